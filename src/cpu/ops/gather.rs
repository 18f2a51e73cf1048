//! The batch read from the resident data set: pixels scaled to 0..1 (or a table's values as they are) and the labels,
//! in the split's order.

use super::check_len;
use crate::data::Features;
use crate::error::{Error, Result};

/// x: [rows, features] = source[order\[r\]] and labels: \[rows\] = source_labels[order\[r\]], for r < rows.
/// source: [n, features], u8 pixels (each pixel u read as `pixel_inputs[u]`: u / 255, normalised where asked, see
/// [`crate::data::pixel_inputs`]) or f32 values (read as they are); order: \[rows\] sample indices, each < n.
#[allow(clippy::too_many_arguments)]
pub fn gather(
    x: &mut [f32],
    labels: &mut [u32],
    source: &Features,
    pixel_inputs: &[f32; 256],
    source_labels: &[u8],
    order: &[u32],
    rows: usize,
    features: usize,
) -> Result<()> {
    check_len("gather output", x.len(), rows * features)?;
    check_len("gather labels", labels.len(), rows)?;
    check_len("gather order", order.len(), rows)?;
    for r in 0..rows {
        let i = order[r] as usize;
        let (range, label) = (i * features..(i + 1) * features, source_labels.get(i));
        let out = &mut x[r * features..(r + 1) * features];
        let found = match source {
            Features::Pixels(p) => p.get(range).map(|image| {
                for (xv, &u) in out.iter_mut().zip(image) {
                    *xv = pixel_inputs[usize::from(u)];
                }
            }),
            Features::Values(v) => v.get(range).map(|values| out.copy_from_slice(values)),
        };
        let (Some(()), Some(&label)) = (found, label) else {
            return Err(Error::Config(format!(
                "gather: sample index {i} is outside the data set of {} samples",
                source_labels.len()
            )));
        };
        labels[r] = u32::from(label);
    }
    Ok(())
}
