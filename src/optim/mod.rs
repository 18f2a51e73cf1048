//! Optimizers, with PyTorch's update rules so results compare one to one with `torch.optim`.
//!
//! One table ([`Rule::row`]) says, for every update rule, its name, its PyTorch class, the names of its state tensors
//! (PyTorch's) and its hyper-parameters with their defaults; [`Hyper::range`] gives each hyper-parameter's range. The
//! command line, the checkpoint, the plan's layout, the GPU kernels (through [`wgsl_declarations`]) and the kernel
//! checks all read them. The rules themselves are one function each, in `cpu::ops::update` and
//! `shaders/optimizer.wgsl`.

mod schedule;
mod table;

pub use schedule::LrSchedule;
pub use table::{wgsl_declarations, Hyper, Range, Rule, RuleRow, HYPER_SLOTS, MAX_STATES};

use crate::error::{Error, Result};

/// An update rule and its hyper-parameters: one row of the table with values, each in its range (the constructors
/// check). Values the rule does not read stay 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Optimizer {
    rule: Rule,
    values: [f32; Hyper::ALL.len()],
}

impl Default for Optimizer {
    /// Plain SGD with the table's defaults (also the optimizer of a layout that is never trained).
    fn default() -> Self {
        Optimizer::new(Rule::Sgd)
    }
}

impl Optimizer {
    /// `rule` with the table's defaults.
    pub fn new(rule: Rule) -> Self {
        let mut values = [0.0; Hyper::ALL.len()];
        for &(h, v) in rule.row().hypers {
            values[h.index()] = v;
        }
        Optimizer { rule, values }
    }

    /// `rule` with `values` set (the others at the table's defaults): an error if the rule does not read one of them
    /// or one is out of its range.
    pub fn of(rule: Rule, values: &[(Hyper, f32)]) -> Result<Self> {
        values.iter().try_fold(Optimizer::new(rule), |o, &(h, v)| o.with(h, v))
    }

    /// Plain SGD with learning rate `lr`.
    pub fn sgd(lr: f32) -> Result<Self> {
        Optimizer::new(Rule::Sgd).with(Hyper::Lr, lr)
    }

    /// SGD with momentum μ and learning rate `lr`.
    pub fn momentum(lr: f32, momentum: f32) -> Result<Self> {
        Optimizer::new(Rule::Momentum).with(Hyper::Lr, lr)?.with(Hyper::Momentum, momentum)
    }

    /// Adam with learning rate `lr` and PyTorch's other defaults.
    pub fn adam(lr: f32) -> Result<Self> {
        Optimizer::new(Rule::Adam).with(Hyper::Lr, lr)
    }

    /// This optimizer with `hyper` set to `value`: an error if the rule does not read it or the value is out of
    /// its range.
    pub fn with(mut self, hyper: Hyper, value: f32) -> Result<Self> {
        if !self.rule.uses(hyper) {
            return Err(Error::Config(format!("{} has no hyper-parameter {}", self.rule.name(), hyper.name())));
        }
        if !hyper.range().contains(value) {
            return Err(Error::Config(format!(
                "{} {} = {value} must be {}",
                self.rule.name(),
                hyper.name(),
                hyper.range().describe()
            )));
        }
        self.values[hyper.index()] = value;
        Ok(self)
    }

    /// The update rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// The value of `hyper` (0 if the rule does not read it).
    pub fn get(&self, hyper: Hyper) -> f32 {
        self.values[hyper.index()]
    }

    /// Every value, in [`Hyper::ALL`] order.
    pub fn values(&self) -> [f32; Hyper::ALL.len()] {
        self.values
    }

    /// Every value padded to [`HYPER_SLOTS`]: what the GPU kernels get as WGSL's `Hypers`.
    pub fn gpu_hypers(&self) -> [f32; HYPER_SLOTS] {
        let mut out = [0.0; HYPER_SLOTS];
        out[..self.values.len()].copy_from_slice(&self.values);
        out
    }

    /// The hyper-parameters the rule reads, with their values, in the table's order.
    pub fn hypers(&self) -> impl Iterator<Item = (Hyper, f32)> + '_ {
        self.rule.row().hypers.iter().map(|&(h, _)| (h, self.get(h)))
    }

    /// How many state tensors of each parameter's size the rule keeps.
    pub fn state_tensors(&self) -> usize {
        self.rule.row().states.len()
    }

    /// The learning rate.
    pub fn lr(&self) -> f32 {
        self.get(Hyper::Lr)
    }

    /// The name used on the command line and in checkpoints.
    pub fn name(&self) -> &'static str {
        self.rule.name()
    }

    /// `adam lr=0.001 betas=(0.9, 0.999) eps=1e-8` as PyTorch names them (ε in exponent form, as PyTorch prints
    /// it); a value that switches something off (no weight decay, RMSprop without momentum or centering) is left out.
    pub fn describe(&self) -> String {
        let mut text = self.name().to_owned();
        for (h, v) in self.hypers() {
            let off = v == 0.0
                && (matches!(h, Hyper::WeightDecay) || h.range() == Range::Switch || self.rule == Rule::Rmsprop);
            match h {
                _ if off => {}
                Hyper::Beta1 => text += &format!(" betas=({v}, {})", self.get(Hyper::Beta2)),
                Hyper::Beta2 => {}
                Hyper::Eps => text += &format!(" eps={v:e}"),
                Hyper::Centered => text += " centered",
                Hyper::EpsInSqrt => text += " eps_in_sqrt",
                _ => text += &format!(" {}={v}", h.key()),
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_should_be_consistent() {
        for r in Rule::ALL {
            let row = r.row();
            assert!(row.states.len() <= MAX_STATES, "{r:?}");
            assert_eq!(row.hypers[0].0, Hyper::Lr, "{r:?}: the learning rate comes first");
            for &(h, v) in row.hypers {
                assert!(h.range().contains(v), "{r:?}: default {h:?} = {v}");
                assert_eq!(row.hypers.iter().filter(|(g, _)| *g == h).count(), 1, "{r:?} lists {h:?} twice");
            }
            assert_eq!(Optimizer::new(*r).state_tensors(), row.states.len());
        }
    }

    #[test]
    fn hyper_indices_should_follow_the_list() {
        for (i, h) in Hyper::ALL.iter().enumerate() {
            assert_eq!(h.index(), i, "{h:?}");
        }
    }

    #[test]
    fn with_should_refuse_unknown_and_out_of_range_values() {
        assert!(Optimizer::sgd(0.1).unwrap().with(Hyper::Momentum, 0.9).is_err());
        assert!(Optimizer::momentum(0.1, 1.0).is_err());
        assert!(Optimizer::sgd(0.0).is_err());
        assert!(Optimizer::new(Rule::Rmsprop).with(Hyper::Centered, 0.5).is_err());
        let o = Optimizer::new(Rule::Adamw).with(Hyper::WeightDecay, 0.1).unwrap();
        assert_eq!(o.get(Hyper::WeightDecay), 0.1);
        assert_eq!(o.describe(), "adamw lr=0.001 betas=(0.9, 0.999) eps=1e-8 weight_decay=0.1");
        assert_eq!(Optimizer::new(Rule::Rmsprop).describe(), "rmsprop lr=0.01 alpha=0.99 eps=1e-8");
    }
}
