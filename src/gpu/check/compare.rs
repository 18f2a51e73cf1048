//! The comparison every check ends in: a GPU result against its reference, element by element, within a tolerance.

use std::fmt;

/// How far a GPU result may be from the reference: `|got − want| ≤ atol + rtol·|want|`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f32,
    /// Relative part.
    pub rtol: f32,
}

impl Tolerance {
    /// The default for every kernel: a few f32 roundings of difference (summation order, `exp`/`log`/`sqrt`
    /// accuracy of the driver, fused multiply-adds).
    pub const DEFAULT: Tolerance = Tolerance { atol: 1e-5, rtol: 1e-4 };
    /// Bit-exact (gather: the host supplies the u/255 table; integer counters).
    pub const EXACT: Tolerance = Tolerance { atol: 0.0, rtol: 0.0 };

    fn allows(self, got: f32, want: f32) -> bool {
        got == want || (got - want).abs() <= self.atol + self.rtol * want.abs()
    }
}

/// One element that fell outside the tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mismatch {
    /// Flat index in the output.
    pub index: usize,
    /// The GPU's value.
    pub got: f32,
    /// The reference value.
    pub want: f32,
}

/// One comparison: a kernel on one shape.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRow {
    /// The kernel and what was compared, e.g. `linear y` or `softmax_xent Σloss`.
    pub kernel: String,
    /// The shape and variant, e.g. `rows=65 inputs=784 outputs=10 relu`.
    pub shape: String,
    /// The tolerance applied.
    pub tolerance: Tolerance,
    /// Largest `|got − want|` (infinite if a NaN came back where a number was expected).
    pub max_abs_err: f32,
    /// Largest `|got − want| / |want|` over elements with `want ≠ 0`.
    pub max_rel_err: f32,
    /// The first few mismatches.
    pub mismatches: Vec<Mismatch>,
    /// How many elements mismatched in all.
    pub mismatch_count: usize,
    /// Elements compared.
    pub elements: usize,
    /// Whether every element is within tolerance.
    pub pass: bool,
}

/// How many mismatches a row keeps.
const KEEP_MISMATCHES: usize = 5;

/// Compares `got` with `want` element by element.
pub fn compare(kernel: &str, shape: &str, got: &[f32], want: &[f32], tolerance: Tolerance) -> CheckRow {
    let mut row = CheckRow {
        kernel: kernel.into(),
        shape: shape.into(),
        tolerance,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        mismatches: Vec::new(),
        mismatch_count: got.len().abs_diff(want.len()),
        elements: want.len(),
        pass: true,
    };
    for (index, (&got, &want)) in got.iter().zip(want).enumerate() {
        let both_nan = got.is_nan() && want.is_nan();
        let abs = if both_nan {
            0.0
        } else if got.is_nan() || want.is_nan() {
            f32::INFINITY
        } else {
            (got - want).abs()
        };
        row.max_abs_err = row.max_abs_err.max(abs);
        if want != 0.0 {
            row.max_rel_err = row.max_rel_err.max(abs / want.abs());
        }
        if !both_nan && !tolerance.allows(got, want) {
            row.mismatch_count += 1;
            if row.mismatches.len() < KEEP_MISMATCHES {
                row.mismatches.push(Mismatch { index, got, want });
            }
        }
    }
    row.pass = row.mismatch_count == 0;
    row
}

impl fmt::Display for CheckRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:<28} {:<44} max abs {:.2e}  max rel {:.2e}  (atol {:.0e}, rtol {:.0e}, {} values)",
            if self.pass { "PASS" } else { "FAIL" },
            self.kernel,
            self.shape,
            self.max_abs_err,
            self.max_rel_err,
            self.tolerance.atol,
            self.tolerance.rtol,
            self.elements,
        )?;
        if !self.pass {
            write!(f, "\n     {} mismatches, first:", self.mismatch_count)?;
            for m in &self.mismatches {
                write!(f, " [{}] got {:e} want {:e};", m.index, m.got, m.want)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `|got − want| ≤ atol + rtol·|want|` at its edges, worked by hand: 1e-5 + 1e-4·2 = 2.1e-4 around 2.
    #[test]
    fn compare_fails_outside_the_tolerance_and_says_where() {
        let want = [2.0, -2.0, 0.0, 1.0, 5.0];
        let got = [2.0002, -2.0003, 0.000_005, f32::NAN, 5.0];
        let row = compare("k", "s", &got, &want, Tolerance::DEFAULT);
        assert!(!row.pass);
        assert_eq!(row.mismatch_count, 2, "{row}");
        let at: Vec<usize> = row.mismatches.iter().map(|m| m.index).collect();
        assert_eq!(at, [1, 3], "−2.0003 is 3e-4 off (> 2.1e-4); NaN is never close");
        assert_eq!(row.max_abs_err, f32::INFINITY);
        assert!(row.to_string().starts_with("FAIL k"), "{row}");
        assert!(row.to_string().contains("[1] got -2.0003e0 want -2e0"), "{row}");

        let row = compare("k", "s", &[2.0002, 0.000_009], &[2.0, 0.0], Tolerance::DEFAULT);
        assert!(row.pass, "2e-4 ≤ 2.1e-4 and 9e-6 ≤ 1e-5: {row}");
        assert!((row.max_abs_err - 2e-4).abs() < 1e-6);
        // Relative error only where want ≠ 0: 2e-4 / 2.
        assert!((row.max_rel_err - 1e-4).abs() < 1e-6, "{row}");

        let exact = compare("k", "s", &[1.0, 2.0], &[1.0, 2.000_000_2], Tolerance::EXACT);
        assert_eq!((exact.pass, exact.mismatch_count), (false, 1));
        // Missing or extra values are mismatches too.
        assert!(!compare("k", "s", &[1.0], &[1.0, 1.0], Tolerance::DEFAULT).pass);
    }
}
