//! The activations and their derivatives, one scalar at a time.

use crate::model::{Act, Activation};

/// a = act(z)
pub fn activate(z: f32, act: Act) -> f32 {
    match act.activation {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
        Activation::LeakyRelu => {
            if z > 0.0 {
                z
            } else {
                act.leaky_slope * z
            }
        }
    }
}

/// act′(z) written in terms of `saved`: the pre-activation z where `act`
/// [needs it](Activation::needs_pre_activation), else the output a = act(z): relu a > 0, sigmoid a(1 − a),
/// tanh 1 − a², leaky relu 1 or the slope (a > 0 exactly where z > 0, the slope being within
/// [`crate::model::LEAKY_SLOPES`]).
pub fn activation_grad(saved: f32, act: Act) -> f32 {
    let a = saved;
    match act.activation {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if a > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => a * (1.0 - a),
        Activation::Tanh => 1.0 - a * a,
        Activation::LeakyRelu => {
            if a > 0.0 {
                1.0
            } else {
                act.leaky_slope
            }
        }
    }
}
