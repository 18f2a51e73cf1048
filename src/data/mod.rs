//! TEMPORARY stub (replaced by the real loader from the `data` branch).
#![allow(missing_docs)]
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct DataError {
    pub path: PathBuf,
    pub msg: String,
}

#[derive(Clone, Debug, Default)]
pub struct LabeledImages {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}
impl LabeledImages {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }
    pub fn truncate(&mut self, n: usize) {
        let p = self.pixels();
        self.labels.truncate(n);
        self.images.truncate(n * p);
    }
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.pixels()..(i + 1) * self.pixels()]
    }
}
pub struct Dataset {
    pub name: String,
    pub train: LabeledImages,
    pub test: LabeledImages,
    pub classes: usize,
}
pub enum DataSource {
    Embedded,
    Dir(PathBuf),
}
#[derive(Default)]
pub struct LoadOptions {}
fn gz(b: &[u8], skip: usize) -> Vec<u8> {
    let mut v = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut v).unwrap();
    v.split_off(skip)
}
pub fn load(_s: &DataSource, _o: &LoadOptions) -> Result<Dataset, DataError> {
    let d = env!("CARGO_MANIFEST_DIR");
    let r = |f: &str| std::fs::read(format!("{d}/assets/mnist/{f}")).unwrap();
    let mk = |i: &str, l: &str| LabeledImages { images: gz(&r(i), 16), labels: gz(&r(l), 8), rows: 28, cols: 28 };
    Ok(Dataset {
        name: "mnist".into(),
        train: mk("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        test: mk("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        classes: 10,
    })
}
