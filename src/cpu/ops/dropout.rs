//! Dropout while training: a layer's output multiplied by its factors, which are kept for the input gradient.

use super::check_len;
use crate::dropout::Dropout;
use crate::error::Result;

/// y: [len] ⊙= m and mask: [len] = m, where m\[i\] = `dropout.factor(stream, i)` (0 or 1/(1 − p)): the twin of
/// `dropout.wgsl`'s `dropout` and of the fused kernel's linear epilogue.
pub fn dropout(y: &mut [f32], mask: &mut [f32], dropout: Dropout, stream: u32, len: usize) -> Result<()> {
    check_len("dropout output", y.len(), len)?;
    check_len("dropout mask", mask.len(), len)?;
    for (i, (v, m)) in y[..len].iter_mut().zip(&mut mask[..len]).enumerate() {
        *m = dropout.factor(stream, i as u32);
        *v *= *m;
    }
    Ok(())
}
