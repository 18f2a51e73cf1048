//! The CPU reference of every op in [`crate::plan::Op`]: plain, commented Rust, one function per GPU kernel.
//! Argument order: outputs, inputs, dims. Shapes are row-major; `w: [out, in]` as in PyTorch.
//! Each function checks its slice lengths and returns an error rather than panicking.

mod accumulate;
mod activation;
mod dropout;
mod gather;
mod loss;
mod products;
mod update;

pub use accumulate::accumulate;
pub use activation::{activate, activation_grad, normal_cdf};
pub use dropout::dropout;
pub use gather::gather;
pub use loss::{
    argmax, binary_xent, loss_rows, one_unit_threshold, perceptron, predicted_class, quadratic_cost, softmax_xent,
    sum_row_stats, BatchStats,
};
pub use products::{bias_grad, gemm, input_grad, linear, weight_grad, Layout};
pub use update::{lr_factor, update};

use crate::error::{Error, Result};

/// Fails unless `buf` holds at least `need` elements.
fn check_len(what: &str, len: usize, need: usize) -> Result<()> {
    if len < need {
        return Err(Error::Config(format!("{what} holds {len} elements but the op needs {need}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;
    use crate::optim::Optimizer;

    /// Every op checks its slices: one element too few in any of them is an error naming it, never a panic or a
    /// read past the end.
    #[test]
    fn short_buffers_are_errors() {
        let (v, short) = (vec![0.5f32; 64], vec![0.5f32; 5]);
        let (labels, short_labels) = (vec![1u32; 4], vec![1u32; 1]);
        let mut out = vec![0.0f32; 64];
        let mut few = vec![0.0f32; 5];
        let (n, t) = (Layout::Normal, Layout::Transposed);
        let results: Vec<(&str, Result<()>)> = vec![
            ("gemm c", gemm(&mut few, &v, n, &v, t, 0.0, 2, 3, 3)),
            ("gemm a", gemm(&mut out, &short, n, &v, t, 0.0, 2, 3, 3)),
            ("gemm b", gemm(&mut out, &v, n, &short, t, 0.0, 3, 2, 3)),
            ("linear y", linear(&mut few, None, &v, &v, &v, Activation::Relu.into(), 2, 3, 3)),
            ("linear z", linear(&mut out, Some(&mut few), &v, &v, &v, Activation::Relu.into(), 2, 3, 3)),
            ("linear b", linear(&mut out, None, &v, &v, &short[..2], Activation::Relu.into(), 2, 3, 3)),
            ("softmax dz", softmax_xent(Some(&mut few), &v, &labels, 2, 3).map(drop)),
            ("softmax logits", softmax_xent(None, &short, &labels, 2, 3).map(drop)),
            ("softmax labels", softmax_xent(None, &v, &short_labels, 2, 3).map(drop)),
            ("quadratic dz", quadratic_cost(Some(&mut few), &v, &labels, 2, 3).map(drop)),
            ("perceptron dz", perceptron(Some(&mut few), &v, &labels, 2, 3).map(drop)),
            ("perceptron scores", perceptron(None, &short, &labels, 2, 3).map(drop)),
            ("bias_grad db", bias_grad(&mut few, &v, 2, 6)),
            ("bias_grad dz", bias_grad(&mut out, &short, 2, 3)),
            ("weight_grad dz", weight_grad(&mut out, &short, &v, 2, 3, 3)),
            ("input_grad saved", input_grad(&mut out, &v, &v, &short, None, Activation::Tanh.into(), 2, 3, 3)),
            ("input_grad mask", input_grad(&mut out, &v, &v, &v, Some(&short), Activation::Tanh.into(), 2, 3, 3)),
            ("dropout mask", dropout(&mut out, &mut few, crate::dropout::Dropout::new(0.5), 1, 6)),
            ("update grad", update(&mut out, &mut [], &short, Optimizer::sgd(0.1).unwrap(), 1, 0)),
            ("momentum state", update(&mut few, &mut out[..4], &v[..5], Optimizer::momentum(0.1, 0.9).unwrap(), 1, 0)),
        ];
        for (what, result) in results {
            assert!(matches!(result, Err(Error::Config(_))), "{what}: {result:?}");
        }
    }
}
