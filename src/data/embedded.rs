//! The MNIST files compiled into the binary, so it trains offline from any directory.
//!
//! The bytes are the gzipped IDX files from `assets/mnist/` exactly as committed (their
//! SHA-256 sums are in `assets/mnist/SHA256SUMS` and checked by the test suite).

/// Directory, relative to the crate root, the embedded files come from; used in error paths.
pub const DIR: &str = "assets/mnist";

/// `assets/mnist/train-images-idx3-ubyte.gz`: 60000 training images of 28x28 pixels.
pub const TRAIN_IMAGES: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist/train-images-idx3-ubyte.gz"));

/// `assets/mnist/train-labels-idx1-ubyte.gz`: the 60000 training labels.
pub const TRAIN_LABELS: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist/train-labels-idx1-ubyte.gz"));

/// `assets/mnist/t10k-images-idx3-ubyte.gz`: 10000 test images of 28x28 pixels.
pub const TEST_IMAGES: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist/t10k-images-idx3-ubyte.gz"));

/// `assets/mnist/t10k-labels-idx1-ubyte.gz`: the 10000 test labels.
pub const TEST_LABELS: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/mnist/t10k-labels-idx1-ubyte.gz"));

/// The four embedded files in the order of [`FILES`](super::FILES): train images, train
/// labels, test images, test labels.
pub const ALL: [&[u8]; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];
