//! One split of a data set: its samples' features and their labels.

/// The feature values of a split's samples, row-major `[len, features]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Features {
    /// Image pixels as stored (`u8`, not normalised): gathered as `u / 255`, and kept as bytes on the GPU.
    Pixels(Vec<u8>),
    /// Feature values of a table, as they go into the model (standardised when loaded, [`super::tabular`]):
    /// gathered as they are, `f32` on the GPU.
    Values(Vec<f32>),
}

impl Features {
    /// Number of values (samples × features).
    pub fn len(&self) -> usize {
        match self {
            Features::Pixels(p) => p.len(),
            Features::Values(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels, if these are images.
    pub fn pixels(&self) -> Option<&[u8]> {
        match self {
            Features::Pixels(p) => Some(p),
            Features::Values(_) => None,
        }
    }
}

/// Samples with their labels: one split (train or test) of a data set — images (`rows × cols` pixels each) or the
/// rows of a table (`rows` = 1, `cols` = the feature count).
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledImages {
    /// The features, `[len, rows * cols]` row-major.
    pub features: Features,
    /// One label per sample.
    pub labels: Vec<u8>,
    /// Image height in pixels (1 for a table).
    pub rows: usize,
    /// Image width in pixels (the feature count of a table).
    pub cols: usize,
}

impl LabeledImages {
    /// No samples, of `features` pixels each (one row of that many columns).
    pub fn empty(features: usize) -> Self {
        LabeledImages { features: Features::Pixels(Vec::new()), labels: Vec::new(), rows: 1, cols: features }
    }

    /// Images of `rows × cols` pixels (`pixels`: `[len, rows * cols]`) with their labels.
    pub fn from_pixels(pixels: Vec<u8>, labels: Vec<u8>, rows: usize, cols: usize) -> Self {
        LabeledImages { features: Features::Pixels(pixels), labels, rows, cols }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample (`rows * cols`: pixels per image).
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// Keeps only the first `n` samples (no-op if there are at most `n`).
    pub fn truncate(&mut self, n: usize) {
        let n = n.min(self.len());
        self.labels.truncate(n);
        let values = n * self.pixels();
        match &mut self.features {
            Features::Pixels(p) => p.truncate(values),
            Features::Values(v) => v.truncate(values),
        }
    }

    /// The pixels of image `i`, or `None` if `i` is out of range or the samples are not images.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let p = self.pixels();
        self.features.pixels()?.get(i.checked_mul(p)?..(i + 1).checked_mul(p)?)
    }
}
