//! One split of a data set: its samples' features and their labels; and how pixels become inputs.

/// Pixels normalised as PyTorch's `transforms.Normalize((mean,), (std,))` after `ToTensor()`: (u / 255 − mean) / std,
/// mean and std those of every pixel of the training split (MNIST's: 0.1307 and 0.3081).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalize {
    /// The mean of u / 255 over the training pixels.
    pub mean: f32,
    /// Their (population) standard deviation.
    pub std: f32,
}

impl Normalize {
    /// The mean and deviation of `pixels` / 255 (in f64), or `None` where they cannot normalise (no pixels, or all
    /// alike).
    pub fn of(pixels: &[u8]) -> Option<Self> {
        let mut counts = [0u64; 256];
        pixels.iter().for_each(|&u| counts[usize::from(u)] += 1);
        let n = pixels.len() as f64;
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for (u, &c) in counts.iter().enumerate() {
            let x = u as f64 / 255.0;
            sum += c as f64 * x;
            sum_sq += c as f64 * x * x;
        }
        let mean = sum / n;
        let std = (sum_sq / n - mean * mean).max(0.0).sqrt();
        (n > 0.0 && std > 0.0).then_some(Normalize { mean: mean as f32, std: std as f32 })
    }
}

/// The input value of each pixel value u, what gathering a pixel gives on every backend: u / 255, then with
/// `normalize`, (u / 255 − mean) / std — computed once here in f32, so the CPU and the GPU read the same 256 values.
pub fn pixel_inputs(normalize: Option<Normalize>) -> [f32; 256] {
    std::array::from_fn(|u| {
        let x = u as f32 / 255.0;
        match normalize {
            Some(n) => (x - n.mean) / n.std,
            None => x,
        }
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Without normalisation each value is the exact f32 division u / 255; with it, that value normalised in f32.
    #[test]
    fn pixel_inputs_are_exact_division_then_normalised() {
        let plain = pixel_inputs(None);
        assert_eq!((plain[0], plain[255], plain[49]), (0.0, 1.0, 49.0 / 255.0));
        let n = Normalize { mean: 0.1307, std: 0.3081 };
        let normalised = pixel_inputs(Some(n));
        assert_eq!(normalised[49], (49.0 / 255.0 - 0.1307) / 0.3081);
    }
}
