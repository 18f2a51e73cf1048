//! The names of the choices a user makes (activation, loss, learning-rate schedule…): one `name()` per type, a
//! `match` the compiler checks, and one parser for all of them that reads the variants from clap's `ValueEnum`
//! derive — the list the command line accepts — so a name on the command line, in a checkpoint and in a message is
//! always the same, and a new variant is parsed everywhere without a hand-kept string match.

use clap::ValueEnum;

/// A choice with one name, used on the command line and in checkpoints.
pub trait Named: ValueEnum + Copy + 'static {
    /// What the choice is, for messages: `activation`.
    const WHAT: &'static str;

    /// The name of this variant.
    fn name(self) -> &'static str;
}

/// The variant called `text`, or a message naming what was expected.
pub fn parse<T: Named>(text: &str) -> Result<T, String> {
    T::value_variants().iter().copied().find(|v| v.name() == text).ok_or_else(|| {
        let names: Vec<&str> = T::value_variants().iter().map(|v| v.name()).collect();
        format!("{} \"{text}\" is not one of {}", T::WHAT, names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Init, Loss};
    use crate::optim::LrSchedule;

    /// Each variant's name is the one clap gives it on the command line, and parses back to it.
    fn names_agree<T: Named + PartialEq + std::fmt::Debug>() {
        for &v in T::value_variants() {
            let cli = v.to_possible_value().expect("a listed variant has a command-line name");
            assert_eq!(cli.get_name(), v.name(), "{v:?}");
            assert_eq!(parse::<T>(v.name()), Ok(v));
        }
        let err = parse::<T>("no-such-name").unwrap_err();
        assert!(err.starts_with(T::WHAT) && err.contains(T::value_variants()[0].name()), "{err}");
    }

    #[test]
    fn command_line_and_checkpoint_names_should_agree() {
        names_agree::<Activation>();
        names_agree::<Loss>();
        names_agree::<crate::model::OutputUnits>();
        names_agree::<LrSchedule>();
        names_agree::<Init>();
        names_agree::<crate::optim::Rule>();
        names_agree::<crate::train::Shuffle>();
    }
}
