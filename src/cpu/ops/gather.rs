//! The batch read from the resident data set: pixels scaled to 0..1 and the labels, in the split's order.

use super::check_len;
use crate::error::{Error, Result};

/// x: [rows, features] = images[order\[r\]] / 255 and labels: \[rows\] = source_labels[order\[r\]], for r < rows.
/// images: [n, features] u8; order: \[rows\] sample indices, each < n.
pub fn gather(
    x: &mut [f32],
    labels: &mut [u32],
    images: &[u8],
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
        let (Some(image), Some(&label)) = (images.get(i * features..(i + 1) * features), source_labels.get(i)) else {
            return Err(Error::Config(format!(
                "gather: sample index {i} is outside the data set of {} samples",
                source_labels.len()
            )));
        };
        for (xv, &p) in x[r * features..(r + 1) * features].iter_mut().zip(image) {
            *xv = f32::from(p) / 255.0;
        }
        labels[r] = u32::from(label);
    }
    Ok(())
}
