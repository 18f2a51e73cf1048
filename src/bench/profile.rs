//! Where a training step's time goes: per-stage times from [`Backend::profile`] grouped by kernel family.

use std::time::Duration;

use crate::backend::Backend;
use crate::error::Result;
use crate::plan::{Layout, Op, Plan, PlanForm, Split};

/// Where a training step's time goes: per kernel family and per op, from [`Backend::profile`] (the CPU backend times
/// each op with the host clock; the GPU backend with timestamp queries, one compute pass per kernel).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    /// Steps timed.
    pub steps: usize,
    /// The sum of the ops' times per step (ms).
    pub ms_per_step: f64,
    /// Per kernel family ([`Op::family`]; a stage of several ops is the family `a+b`), slowest first.
    pub families: Vec<FamilyTime>,
    /// Per stage of the step (one op in a reference plan; a GPU dispatch), in plan order.
    pub ops: Vec<OpTime>,
}

/// One kernel family's time in a step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FamilyTime {
    /// [`Op::family`] (`a+b` for a stage of two ops).
    pub family: String,
    /// Stages of this family in a step.
    pub ops: usize,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Share of the step's summed op time (0..1).
    pub share: f64,
}

/// One stage's time in a step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OpTime {
    /// [`Op::label`] of its ops, joined by ` + `.
    pub op: String,
    /// Milliseconds per step.
    pub ms_per_step: f64,
}

impl Profile {
    /// Groups per-stage times (summed over `steps`, one per stage of `plan`) by kernel family.
    pub fn new(plan: &Plan, times: &[Duration], steps: usize) -> Self {
        let per_step = |d: Duration| d.as_secs_f64() * 1e3 / steps.max(1) as f64;
        let stages: Vec<(String, String, f64)> = plan
            .stage_ops()
            .zip(times)
            .map(|(ops, &t)| {
                let family: Vec<&str> = ops.iter().map(Op::family).collect();
                let label: Vec<String> = ops.iter().map(Op::label).collect();
                (family.join("+"), label.join(" + "), per_step(t))
            })
            .collect();
        let total: f64 = stages.iter().map(|(_, _, ms)| ms).sum();
        let mut families: Vec<FamilyTime> = Vec::new();
        for (family, _, ms) in &stages {
            match families.iter_mut().find(|f| &f.family == family) {
                Some(f) => {
                    f.ops += 1;
                    f.ms_per_step += ms;
                }
                None => families.push(FamilyTime { family: family.clone(), ops: 1, ms_per_step: *ms, share: 0.0 }),
            }
        }
        for f in &mut families {
            f.share = if total > 0.0 { f.ms_per_step / total } else { 0.0 };
        }
        families.sort_by(|a, b| b.ms_per_step.total_cmp(&a.ms_per_step));
        Profile {
            steps,
            ms_per_step: total,
            families,
            ops: stages.into_iter().map(|(_, op, ms_per_step)| OpTime { op, ms_per_step }).collect(),
        }
    }
}

/// Times `steps` training steps of `rows` samples op by op on `backend` (after two untimed ones, so first-use costs
/// stay out). It trains: call it after the measured epochs. `None` where the backend cannot time its ops.
pub fn profile<B: Backend>(
    backend: &mut B,
    layout: &Layout,
    form: PlanForm,
    rows: usize,
    steps: usize,
) -> Result<Option<Profile>> {
    const UNTIMED: usize = 2;
    let plan = form.train_step(layout, rows)?;
    let id = backend.prepare(&plan)?;
    // Order: the first samples of the training split, as many as the steps read.
    let samples = (steps + UNTIMED) * rows;
    let order: Vec<u32> = (0..samples as u32).collect();
    backend.begin_epoch(Split::Train, &order)?;
    if backend.profile(id, UNTIMED)?.is_none() {
        return Ok(None);
    }
    Ok(backend.profile(id, steps)?.map(|times| Profile::new(&plan, &times, steps)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Loss, ModelConfig, OutputUnits, DEFAULT_LEAKY_SLOPE};
    use crate::optim::Optimizer;

    #[test]
    fn profile_groups_ops_by_family_slowest_first() {
        let layout = Layout::new(
            &ModelConfig {
                output_units: OutputUnits::Classes,
                inputs: 4,
                hidden: vec![3],
                classes: 2,
                activation: Activation::Tanh,
                loss: Loss::Xent,
                leaky_slope: DEFAULT_LEAKY_SLOPE,
            },
            Optimizer::sgd(0.1).unwrap(),
            5,
        );
        let plan = layout.reference_train_step(5).unwrap();
        let ops = plan.ops.clone();
        // Op i takes i + 1 ms over 2 steps.
        let times: Vec<Duration> = (0..ops.len()).map(|i| Duration::from_millis(i as u64 + 1)).collect();
        let p = Profile::new(&plan, &times, 2);
        let total_ms: f64 = (1..=ops.len()).map(|i| i as f64).sum::<f64>() / 2.0;
        assert!((p.ms_per_step - total_ms).abs() < 1e-9);
        assert_eq!(p.ops.len(), ops.len());
        assert_eq!(p.ops[0].op, "gather_5x4");
        assert!((p.ops[0].ms_per_step - 0.5).abs() < 1e-9);
        assert_eq!(p.families.iter().map(|f| f.ops).sum::<usize>(), ops.len());
        assert!((p.families.iter().map(|f| f.share).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(p.families.windows(2).all(|w| w[0].ms_per_step >= w[1].ms_per_step), "not slowest first");
        let linear = p.families.iter().find(|f| f.family == "linear").unwrap();
        assert_eq!(linear.ops, 2);
        // The two linears are ops 1 and 2: (2 + 3) ms over 2 steps.
        assert!((linear.ms_per_step - 2.5).abs() < 1e-9);
    }

    #[test]
    fn profile_of_a_fused_plan_names_each_stage_by_its_ops() {
        let layout = Layout::new(
            &ModelConfig {
                output_units: OutputUnits::Classes,
                inputs: 4,
                hidden: vec![3, 3],
                classes: 2,
                activation: Activation::Relu,
                loss: Loss::Xent,
                leaky_slope: DEFAULT_LEAKY_SLOPE,
            },
            Optimizer::sgd(0.1).unwrap(),
            5,
        );
        let plan = layout.train_step(5).unwrap();
        let times = vec![Duration::from_millis(1); plan.stages.len()];
        let p = Profile::new(&plan, &times, 1);
        assert_eq!(p.ops.len(), plan.stages.len());
        assert_eq!(p.ops[0].op, "gather_linear_5x4x3_relu");
        assert_eq!(p.ops[2].op, "linear_5x3x2_identity_xent");
        assert_eq!(p.ops[3].op, "input_grad_5x2x3_relu + advance_5_stats");
        assert_eq!(p.ops.last().unwrap().op, "grad_update_3x3_k5_sgd + grad_update_3x4_k5_sgd");
        assert!(p.families.iter().any(|f| f.family == "grad_update+input_grad" && f.ops == 1), "{:?}", p.families);
    }
}
