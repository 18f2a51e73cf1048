//! Loading MNIST-format data sets: the embedded MNIST copy or a directory of IDX files.
//!
//! [`load`] returns a [`Dataset`] of raw `u8` pixels and labels (normalisation happens per
//! batch elsewhere) after checking that the four files agree with each other and with the
//! model: one label per image, every label below the class count, images of the model's
//! input size. The IDX parsing itself, and all its checks, live in [`idx`].

pub mod classes;
pub mod csv;
pub mod embedded;
pub mod error;
pub mod identity;
pub mod idx;
pub mod samples;

use std::path::{Path, PathBuf};

pub use classes::{class_label, class_names, FASHION_CLASSES, FASHION_MNIST_DIR, FASHION_MNIST_NAME};
pub use error::{DataError, IdxErrorKind};
pub use identity::{Known, KNOWN, MNIST_NAME};
pub use idx::{parse_idx, read_idx_bytes, read_idx_file, IdxArray, IdxLimits};
pub use samples::{pixel_inputs, Features, LabeledImages, Normalize};

/// Canonical file stems of an MNIST-format data set, in the order train images, train labels,
/// test images, test labels. In a directory each may be present as `STEM.gz` or `STEM`.
pub const FILES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

/// Number of IDX dimensions of each entry of [`FILES`]: images have 3, labels 1.
const FILE_DIMS: [usize; 4] = [3, 1, 3, 1];

/// A data set: a training split, a test split and the number of classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The name of a data set known by its content (`mnist`, `fashion-mnist`: see [`identity`]), the directory's
    /// name otherwise.
    pub name: String,
    /// What the data is: [`identity::digest`] of both splits as loaded, before any `--limit`.
    pub digest: String,
    /// The training split.
    pub train: LabeledImages,
    /// The test split.
    pub test: LabeledImages,
    /// Number of classes; every label is below it.
    pub classes: usize,
    /// For a table's data set: its columns, classes and standardisation ([`csv::tabular`]).
    pub table: Option<csv::Table>,
    /// How pixels are normalised when gathered (`--normalize`); `None`: u / 255.
    pub normalize: Option<Normalize>,
}

impl Dataset {
    /// A data set of these splits, called `name`, with its [`digest`](identity::digest) computed from them.
    pub fn new(name: impl Into<String>, train: LabeledImages, test: LabeledImages, classes: usize) -> Self {
        let digest = identity::digest(&train, &test);
        Dataset { name: name.into(), digest, train, test, classes, table: None, normalize: None }
    }

    /// The input value of each pixel value ([`pixel_inputs`] with this data set's normalisation).
    pub fn pixel_inputs(&self) -> [f32; 256] {
        pixel_inputs(self.normalize)
    }

    /// A data set with no samples of `features` pixels and `classes` classes, for backends built only to run kernels
    /// that gather nothing (the kernel checks, the matmul probe).
    pub fn empty(features: usize, classes: usize) -> Self {
        let split = LabeledImages::empty(features);
        Dataset::new("empty", split.clone(), split, classes)
    }
}

/// Where to load a data set from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// The MNIST copy compiled into the binary (see [`embedded`]).
    Embedded,
    /// A directory holding the four [`FILES`], each gzipped (`STEM.gz`) or raw (`STEM`);
    /// old-style names with a dot (`train-images.idx3-ubyte`) are accepted too.
    Dir(PathBuf),
}

/// What [`load`] checks and enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// `Some(c)`: every label must be below `c`, and the data set has `c` classes.
    /// `None`: the class count is the largest label (over train and test) plus one.
    pub classes: Option<usize>,
    /// `Some(n)`: images must have exactly `n` pixels (the model's input size).
    pub input_size: Option<usize>,
    /// Resource limits for the IDX parser.
    pub limits: IdxLimits,
}

impl Default for LoadOptions {
    /// MNIST: 10 classes, 28x28 = 784 pixels, default limits.
    fn default() -> Self {
        Self { classes: Some(10), input_size: Some(784), limits: IdxLimits::default() }
    }
}

/// Loads and checks a data set.
///
/// Errors name the offending file (or directory) and say what is wrong, e.g.
/// `assets/mnist/train-labels-idx1-ubyte.gz: label 12 at index 5 is >= 10 classes ...`.
pub fn load(source: &DataSource, opts: &LoadOptions) -> Result<Dataset, DataError> {
    match source {
        DataSource::Embedded => load_gz_bytes(embedded::DIR, embedded::ALL, opts),
        DataSource::Dir(dir) => {
            if !dir.is_dir() {
                return Err(DataError::new(dir, IdxErrorKind::NotADirectory));
            }
            // Find all four before parsing any, so a missing file is reported at once; without them, MNIST's two
            // CSV files will do.
            let paths = match FILES.iter().map(|stem| find_file(dir, stem)).collect::<Result<Vec<_>, _>>() {
                Ok(paths) => paths,
                Err(missing) => match csv::find_csv_pair(dir) {
                    Some(pair) => return load_csv(dir, pair, opts),
                    None => return Err(missing),
                },
            };
            let mut files = Vec::with_capacity(FILES.len());
            for (path, dims) in paths.into_iter().zip(FILE_DIMS) {
                let array = read_idx_file(&path, dims, &opts.limits)?;
                files.push((path, array));
            }
            assemble(dir_name(dir), files, opts)
        }
    }
}

/// The data set of the four gzipped [`FILES`] held in memory (in that order) as if read from the folder `dir`: the
/// embedded copy, or the files a browser fetched beside its page. The same parser and checks as [`load`]; `dir`
/// names the files in errors, and the data set if its content is not a known one.
pub fn load_gz_bytes(dir: &str, files: [&[u8]; 4], opts: &LoadOptions) -> Result<Dataset, DataError> {
    let mut parsed = Vec::with_capacity(FILES.len());
    for ((stem, bytes), dims) in FILES.iter().zip(files).zip(FILE_DIMS) {
        let name = format!("{dir}/{stem}.gz");
        let array = read_idx_bytes(&name, bytes, true, dims, &opts.limits)?;
        parsed.push((PathBuf::from(name), array));
    }
    let name = if dir == embedded::DIR { MNIST_NAME.to_owned() } else { dir_name(Path::new(dir)) };
    assemble(name, parsed, opts)
}

/// The data set in MNIST's two CSV files ([`csv::mnist`]), checked as the IDX files are.
fn load_csv(dir: &Path, [train, test]: [PathBuf; 2], opts: &LoadOptions) -> Result<Dataset, DataError> {
    let (train_images, train_labels) = csv::read_mnist_csv(&train, opts.classes, &opts.limits)?;
    let (test_images, test_labels) = csv::read_mnist_csv(&test, opts.classes, &opts.limits)?;
    let files =
        vec![(train.clone(), train_images), (train, train_labels), (test.clone(), test_images), (test, test_labels)];
    assemble(dir_name(dir), files, opts)
}

/// The paths tried, in order, for the file `stem` in `dir`: `STEM.gz`, `STEM`, and the
/// old-style names with a dot before `idx` (`train-images.idx3-ubyte.gz`, ...).
pub fn candidate_paths(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let mut names = vec![format!("{stem}.gz"), stem.to_owned()];
    let old = stem.replacen("-idx", ".idx", 1);
    if old != stem {
        names.push(format!("{old}.gz"));
        names.push(old);
    }
    names.into_iter().map(|n| dir.join(n)).collect()
}

fn find_file(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let tried = candidate_paths(dir, stem);
    match tried.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(DataError::new(dir, IdxErrorKind::MissingFile { file: stem.to_owned(), tried })),
    }
}

fn dir_name(dir: &Path) -> String {
    let named = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    named(dir)
        .or_else(|| dir.canonicalize().ok().as_deref().and_then(named))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Checks the four parsed files (in [`FILES`] order) against each other and `opts`, and identifies the data: a data
/// set known by its content takes its own name, any other the `name` given (its folder's).
fn assemble(name: String, files: Vec<(PathBuf, IdxArray)>, opts: &LoadOptions) -> Result<Dataset, DataError> {
    let mut it = files.into_iter();
    let (Some(train_images), Some(train_labels), Some(test_images), Some(test_labels)) =
        (it.next(), it.next(), it.next(), it.next())
    else {
        // `load` always passes four files; an empty set is the honest answer otherwise.
        return Err(DataError::new(name, IdxErrorKind::NoSamples));
    };
    let train_labels_path = train_labels.0.clone();
    let test_labels_path = test_labels.0.clone();
    let test_images_path = test_images.0.clone();
    let train = split(train_images, train_labels, opts)?;
    let test = split(test_images, test_labels, opts)?;

    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::new(
            test_images_path,
            IdxErrorKind::ShapeMismatch {
                train_rows: train.rows,
                train_cols: train.cols,
                test_rows: test.rows,
                test_cols: test.cols,
            },
        ));
    }

    let classes = match opts.classes {
        Some(classes) => {
            check_labels(&train_labels_path, &train.labels, classes)?;
            check_labels(&test_labels_path, &test.labels, classes)?;
            classes
        }
        None => {
            let max = train.labels.iter().chain(&test.labels).max().copied();
            max.map_or(0, |m| usize::from(m) + 1)
        }
    };

    let mut data = Dataset::new(name, train, test, classes);
    if let Some(known) = data.known() {
        data.name = known.name.to_owned();
    }
    Ok(data)
}

fn split(
    (images_path, images): (PathBuf, IdxArray),
    (labels_path, labels): (PathBuf, IdxArray),
    opts: &LoadOptions,
) -> Result<LabeledImages, DataError> {
    // The parser guarantees the dimension counts (3 and 1); these are only a safety net.
    let &[count, rows, cols] = images.dims.as_slice() else {
        return Err(wrong_dims(images_path, images.dims.len(), 3));
    };
    let &[label_count] = labels.dims.as_slice() else {
        return Err(wrong_dims(labels_path, labels.dims.len(), 1));
    };
    if label_count != count {
        return Err(DataError::new(
            labels_path,
            IdxErrorKind::CountMismatch { labels: label_count, images: count, images_path },
        ));
    }
    if count == 0 {
        return Err(DataError::new(images_path, IdxErrorKind::NoSamples));
    }
    if let Some(expected) = opts.input_size {
        if rows * cols != expected {
            return Err(DataError::new(images_path, IdxErrorKind::WrongImageSize { rows, cols, expected }));
        }
    }
    Ok(LabeledImages { features: Features::Pixels(images.data), labels: labels.data, rows, cols })
}

fn wrong_dims(path: PathBuf, found: usize, expected: usize) -> DataError {
    let found = u8::try_from(found).unwrap_or(u8::MAX);
    DataError::new(path, IdxErrorKind::WrongDimCount { found, expected })
}

fn check_labels(path: &Path, labels: &[u8], classes: usize) -> Result<(), DataError> {
    match labels.iter().enumerate().find(|&(_, &label)| usize::from(label) >= classes) {
        Some((index, &label)) => Err(DataError::new(path, IdxErrorKind::LabelOutOfRange { index, label, classes })),
        None => Ok(()),
    }
}
