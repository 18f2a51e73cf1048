//! Inference on the CPU: class probabilities of images under trained parameters, with the reference ops of
//! [`crate::cpu::ops`] (so the input scaling is exactly the one used in training).

use crate::cpu::ops;
use crate::data::{pixel_inputs, Features, Normalize};
use crate::error::{Error, Result};
use crate::model::{Loss, ModelConfig, Params};

/// Checks that `params` has the shapes of `model`.
fn check_params(model: &ModelConfig, params: &Params) -> Result<()> {
    let shapes = model.layer_shapes();
    if shapes.len() != params.layers.len() {
        return Err(Error::Config(format!(
            "the model has {} layers but the parameters {}",
            shapes.len(),
            params.layers.len()
        )));
    }
    for (l, (&(inputs, outputs), layer)) in shapes.iter().zip(&params.layers).enumerate() {
        if (layer.inputs, layer.outputs) != (inputs, outputs)
            || layer.weight.len() != inputs * outputs
            || layer.bias.len() != outputs
        {
            return Err(Error::Config(format!(
                "layer {l} should map {inputs} to {outputs} features, but its parameters map {} to {} \
                 ({} weights, {} biases)",
                layer.inputs,
                layer.outputs,
                layer.weight.len(),
                layer.bias.len()
            )));
        }
    }
    Ok(())
}

/// The last layer's outputs `[rows, model.output_width()]` of `rows` samples (`inputs`: `[rows, model.inputs]` as in
/// the data sets: raw `u8` pixels, or a table's standardised values): logits, sigmoid outputs or, for the perceptron,
/// scores z. Pixels are normalised with `normalize` as in training ([`pixel_inputs`]).
pub fn outputs(
    model: &ModelConfig,
    params: &Params,
    inputs: &Features,
    normalize: Option<Normalize>,
    rows: usize,
) -> Result<Vec<f32>> {
    model.validate()?;
    check_params(model, params)?;
    if inputs.len() != rows * model.inputs {
        return Err(Error::Config(format!(
            "{} values given for {rows} samples of {} features each",
            inputs.len(),
            model.inputs
        )));
    }
    // The same scaling as training: the gather op itself, over images 0..rows in order.
    let mut x = vec![0.0; rows * model.inputs];
    let mut labels = vec![0u32; rows];
    let order: Vec<u32> = (0..rows as u32).collect();
    ops::gather(&mut x, &mut labels, inputs, &pixel_inputs(normalize), &vec![0; rows], &order, rows, model.inputs)?;
    for (l, layer) in params.layers.iter().enumerate() {
        let mut y = vec![0.0; rows * layer.outputs];
        let act = model.layer_act(l);
        ops::linear(&mut y, None, &x, &layer.weight, &layer.bias, act, rows, layer.inputs, layer.outputs)?;
        x = y;
    }
    Ok(x)
}

/// Class probabilities `[rows, classes]` of `rows` samples, from their [`outputs`]. With the cross-entropy loss they
/// are the softmax of the logits; with the quadratic cost the sigmoid outputs are independent scores, so they are
/// divided by their sum to be read the same way. One output unit (two classes) gives P(class 1) = a = σ(z) (binary
/// cross-entropy: σ of its logit), so the row is (1 − a, a). A perceptron gives a class, not probabilities
/// ([`Loss::gives_probabilities`]): an error naming [`outputs`] and [`ops::predicted_class`], which it gives.
pub fn probabilities(
    model: &ModelConfig,
    params: &Params,
    inputs: &Features,
    normalize: Option<Normalize>,
    rows: usize,
) -> Result<Vec<f32>> {
    if !model.loss.gives_probabilities() {
        return Err(Error::Config(format!(
            "a model trained with --loss {} gives a class and its scores, not probabilities (predict::outputs, then \
             cpu::ops::predicted_class)",
            model.loss.name()
        )));
    }
    let mut x = outputs(model, params, inputs, normalize, rows)?;
    if model.output_width() == 1 {
        return Ok(x.iter().flat_map(|&v| one_unit_probabilities(model.loss, v)).collect());
    }
    for row in x.chunks_exact_mut(model.classes) {
        match model.loss {
            Loss::Xent => {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.iter_mut().for_each(|v| *v = (*v - max).exp());
            }
            Loss::Mse | Loss::Bce | Loss::Perceptron => {}
        }
        let sum: f32 = row.iter().sum();
        if sum > 0.0 && sum.is_finite() {
            row.iter_mut().for_each(|v| *v /= sum);
        }
    }
    Ok(x)
}

/// (P(class 0), P(class 1)) of one output unit `v` of `loss`: a = v for the quadratic cost's sigmoid output, σ(v)
/// for binary cross-entropy's logit (its class 1 is then z > 0, as in training).
fn one_unit_probabilities(loss: Loss, v: f32) -> [f32; 2] {
    let a = match loss {
        Loss::Mse => v,
        Loss::Bce | Loss::Xent | Loss::Perceptron => ops::activate(v, crate::model::Activation::Sigmoid.into()),
    };
    [1.0 - a, a]
}

/// The `k` most probable classes of one row of probabilities, most probable first, as (class, probability);
/// ties keep the lower class first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}
