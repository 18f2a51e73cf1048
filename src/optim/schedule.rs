//! The learning-rate schedule: how the rate changes over a run.

/// How the learning rate changes over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LrSchedule {
    /// Linear decay from `--lr` at the first step to 0 after the last: step t of T uses lr·(1 − (t − 1)/T) (the
    /// default of Hugging Face's Trainer; PyTorch's `LambdaLR`/`LinearLR` stepped per batch). The end-of-run snapshot
    /// then sits in a minimum instead of bouncing around it.
    #[default]
    Linear,
    /// The same rate for every step.
    Constant,
}

impl crate::names::Named for LrSchedule {
    const WHAT: &'static str = "learning-rate schedule";

    fn name(self) -> &'static str {
        LrSchedule::name(self)
    }
}

impl LrSchedule {
    /// The name used on the command line and in checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            LrSchedule::Linear => "linear",
            LrSchedule::Constant => "constant",
        }
    }

    /// What the schedule does, for the run's header: `lr linear decay to 0 over 9380 steps` or `lr constant`.
    pub fn describe(self, steps: u64) -> String {
        match self {
            LrSchedule::Linear => format!("lr linear decay to 0 over {steps} steps"),
            LrSchedule::Constant => "lr constant".into(),
        }
    }
}
