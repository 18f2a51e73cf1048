//! How much memory the CPU backend may take, and what to do when a model does not fit.

use crate::plan::{Layout, Role};

pub(super) const GIB: f64 = (1u64 << 30) as f64;

/// The memory this process can still take: `MemAvailable` of `/proc/meminfo` (Linux); `None` elsewhere.
pub(super) fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What to change when `layout` does not fit in memory: the flag that sets what dominates it. The per-row buffers
/// (inputs, activations, pre-activations, deltas) hold `max_rows` rows, the larger of the training batch and the
/// evaluation batch; the parameters, gradients and optimizer state depend on the layer widths alone.
pub fn fix_for_memory(layout: &Layout) -> String {
    // u128: the lengths saturate at usize::MAX each, and several of them may.
    let per_row: u128 = layout
        .buffers
        .iter()
        .filter(|b| {
            matches!(b.role, Role::Input | Role::Activation | Role::PreActivation | Role::Delta | Role::RowStats)
        })
        .map(|b| b.len as u128)
        .sum();
    let per_model: u128 = layout.buffers.iter().map(|b| b.len as u128).sum::<u128>() - per_row;
    if per_row >= per_model {
        format!(
            "most of it holds the {} rows of a step: use a smaller --batch-size, or --eval-batch (the rows of an \
             evaluation step) if that is the larger",
            layout.max_rows
        )
    } else {
        "most of it is the weights, gradients and optimizer state: use narrower --hidden layers".into()
    }
}
