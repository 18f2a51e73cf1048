//! Tests of the strict IDX parser and of `data::load`: one test per malformed input, plus
//! positive tests on small synthetic sets, the embedded MNIST copy and Fashion-MNIST.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use gpu_mnist::data::{
    load, parse_idx, read_idx_bytes, read_idx_file, DataError, DataSource, Features, IdxErrorKind, IdxLimits,
    LoadOptions, FILES,
};
use sha2::{Digest, Sha256};

mod support;
use support::{gzip, idx, Counting};

// ---------------------------------------------------------------- helpers

/// A valid images file: `n` images of `rows x cols`, pixel values a simple pattern.
fn images_idx(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let len = (n * rows * cols) as usize;
    let payload: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
    idx(&[n, rows, cols], &payload)
}

/// A valid labels file.
fn labels_idx(labels: &[u8]) -> Vec<u8> {
    idx(&[u32::try_from(labels.len()).unwrap()], labels)
}

fn limits() -> IdxLimits {
    IdxLimits::default()
}

fn parse(bytes: &[u8], dims: usize) -> Result<gpu_mnist::data::IdxArray, IdxErrorKind> {
    parse_idx(bytes, dims, &limits())
}

/// Options for the synthetic 2x2-pixel sets.
fn small_opts() -> LoadOptions {
    LoadOptions { input_size: Some(4), ..LoadOptions::default() }
}

/// The four files of a small valid set: 6 train and 3 test images of 2x2.
fn small_set() -> [Vec<u8>; 4] {
    [images_idx(6, 2, 2), labels_idx(&[0, 1, 2, 3, 4, 9]), images_idx(3, 2, 2), labels_idx(&[7, 8, 9])]
}

/// Writes `files` (in `FILES` order) into `dir`, gzipped as `STEM.gz` or raw as `STEM`.
fn write_set(dir: &Path, files: &[Vec<u8>; 4], gzipped: bool) {
    for (stem, bytes) in FILES.iter().zip(files) {
        if gzipped {
            fs::write(dir.join(format!("{stem}.gz")), gzip(bytes)).unwrap();
        } else {
            fs::write(dir.join(stem), bytes).unwrap();
        }
    }
}

fn load_set(files: &[Vec<u8>; 4], opts: &LoadOptions) -> Result<gpu_mnist::data::Dataset, DataError> {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), files, true);
    load(&DataSource::Dir(dir.path().to_path_buf()), opts)
}

fn histogram(labels: &[u8]) -> Vec<usize> {
    let mut h = vec![0; 10];
    for &l in labels {
        h[usize::from(l)] += 1;
    }
    h
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- header errors

#[test]
fn empty_input_is_empty() {
    assert!(matches!(parse(&[], 1), Err(IdxErrorKind::Empty)));
    let err = read_idx_bytes("x", &[], false, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::Empty));
}

#[test]
fn empty_file_raw_and_gz() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["labels", "labels.gz"] {
        let path = dir.path().join(name);
        fs::write(&path, b"").unwrap();
        let err = read_idx_file(&path, 1, &limits()).unwrap_err();
        assert!(matches!(err.kind, IdxErrorKind::Empty), "{name}: {err}");
        assert_eq!(err.path, path);
    }
    // A valid gzip stream with nothing inside.
    let err = read_idx_bytes("e.gz", &gzip(&[]), true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::Empty), "{err}");
}

#[test]
fn wrong_magic() {
    let mut bytes = labels_idx(&[1, 2, 3]);
    bytes[0] = 0x01;
    assert!(matches!(parse(&bytes, 1), Err(IdxErrorKind::BadMagic { found: [0x01, 0x00] })));
    // Short text is "not IDX", not "truncated".
    assert!(matches!(parse(b"hi", 1), Err(IdxErrorKind::BadMagic { .. })));
    // A gzip file that is not named .gz is parsed raw, so it is not IDX either.
    assert!(matches!(parse(&gzip(&labels_idx(&[1])), 1), Err(IdxErrorKind::BadMagic { found: [0x1f, 0x8b] })));
}

#[test]
fn wrong_type_code() {
    let mut bytes = labels_idx(&[1, 2, 3]);
    bytes[2] = 0x0D; // float
    assert!(matches!(parse(&bytes, 1), Err(IdxErrorKind::UnsupportedType { code: 0x0D })));
}

#[test]
fn wrong_number_of_dims() {
    // A labels file where images are expected, and vice versa.
    assert!(matches!(parse(&labels_idx(&[1, 2]), 3), Err(IdxErrorKind::WrongDimCount { found: 1, expected: 3 })));
    assert!(matches!(parse(&images_idx(1, 2, 2), 1), Err(IdxErrorKind::WrongDimCount { found: 3, expected: 1 })));
}

#[test]
fn truncated_header() {
    // Ends inside the 4 fixed bytes.
    assert!(matches!(parse(&[0, 0, 8], 1), Err(IdxErrorKind::TruncatedHeader { expected: 4, found: 3 })));
    // Ends inside the dimensions: 3 dims need 16 header bytes.
    let full = images_idx(2, 2, 2);
    assert!(matches!(parse(&full[..10], 3), Err(IdxErrorKind::TruncatedHeader { expected: 16, found: 10 })));
}

#[test]
fn dims_product_overflow() {
    let bytes = idx(&[u32::MAX, u32::MAX, u32::MAX], &[]);
    assert!(matches!(parse(&bytes, 3), Err(IdxErrorKind::DimsOverflow { .. })));
}

#[test]
fn billions_declared_in_tiny_file_is_too_large() {
    // 3 GB declared, 3 bytes present: rejected from the header alone.
    let bytes = idx(&[3_000_000_000], &[1, 2, 3]);
    assert!(matches!(parse(&bytes, 1), Err(IdxErrorKind::TooLarge { declared: 3_000_000_000, .. })));
    // 60 million 28x28 images: fits in u64, far above the 128 MiB default cap.
    let bytes = idx(&[60_000_000, 28, 28], &[0; 16]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-images-idx3-ubyte");
    fs::write(&path, &bytes).unwrap();
    let err = read_idx_file(&path, 3, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::TooLarge { .. }), "{err}");
    // The cap is the caller's: a small cap rejects a small file.
    let small = IdxLimits { max_bytes: 2 };
    assert!(matches!(
        parse_idx(&labels_idx(&[1, 2, 3])[..], 1, &small),
        Err(IdxErrorKind::TooLarge { declared: 3, max: 2, .. })
    ));
    // Exactly at the cap is fine.
    let at_cap = IdxLimits { max_bytes: 3 };
    assert!(parse_idx(&labels_idx(&[1, 2, 3])[..], 1, &at_cap).is_ok());
}

// ---------------------------------------------------------------- payload errors

#[test]
fn truncated_payload() {
    let bytes = idx(&[10], &[1, 2, 3, 4, 5]);
    assert!(matches!(parse(&bytes, 1), Err(IdxErrorKind::TruncatedPayload { expected: 10, found: 5 })));
    // Same inside a (valid) gzip stream.
    let err = read_idx_bytes("l.gz", &gzip(&bytes), true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::TruncatedPayload { expected: 10, found: 5 }));
}

#[test]
fn trailing_bytes() {
    let bytes = idx(&[3], &[1, 2, 3, 4]);
    assert!(matches!(parse(&bytes, 1), Err(IdxErrorKind::TrailingBytes { expected: 3 })));
    let err = read_idx_bytes("l.gz", &gzip(&bytes), true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::TrailingBytes { expected: 3 }));
}

#[test]
fn endless_stream_is_trailing_bytes_after_reading_declared_plus_one() {
    // A raw stream that never ends: the parser must stop one byte past the payload.
    let header = idx(&[10, 28, 28], &[]);
    let mut reader = Counting { inner: io::Cursor::new(header.clone()).chain(io::repeat(0)), count: 0 };
    let result = parse_idx(&mut reader, 3, &limits());
    assert!(matches!(result, Err(IdxErrorKind::TrailingBytes { expected: 7840 })));
    assert!(reader.count <= (header.len() + 7840 + 1) as u64, "read {} bytes", reader.count);
}

#[test]
fn gzip_bomb_is_trailing_bytes_without_decompressing_it() {
    // The header declares 10 images of 28x28, the stream holds them plus 100 MB of zeros.
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&images_idx(10, 28, 28)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..100 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb should be small: {}", bomb.len());

    let start = Instant::now();
    let err = read_idx_bytes("bomb.gz", &bomb, true, 3, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::TrailingBytes { expected: 7840 }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());

    // And the parser pulls only declared + 1 payload bytes out of the decoder.
    let mut reader = Counting { inner: flate2::read::GzDecoder::new(&bomb[..]), count: 0 };
    assert!(matches!(parse_idx(&mut reader, 3, &limits()), Err(IdxErrorKind::TrailingBytes { .. })));
    assert!(reader.count <= 16 + 7840 + 1, "read {} bytes", reader.count);

    // Also from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-images-idx3-ubyte.gz");
    fs::write(&path, &bomb).unwrap();
    let err = read_idx_file(&path, 3, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::TrailingBytes { .. }), "{err}");
}

// ---------------------------------------------------------------- gzip errors

#[test]
fn bad_gzip_crc() {
    let mut gz = gzip(&labels_idx(&[1, 2, 3, 4, 5]));
    let crc_at = gz.len() - 8; // trailer: CRC-32 (4 bytes), then ISIZE (4 bytes)
    gz[crc_at] ^= 0xff;
    let err = read_idx_bytes("l.gz", &gz, true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
}

#[test]
fn bad_gzip_length() {
    let mut gz = gzip(&labels_idx(&[1, 2, 3, 4, 5]));
    let last = gz.len() - 1;
    gz[last] ^= 0x01;
    let err = read_idx_bytes("l.gz", &gz, true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
}

#[test]
fn gzip_cut_short_or_garbled_is_corrupt() {
    let payload: Vec<u8> = (0..4000u32).map(|i| (i * 31 % 251) as u8).collect();
    let gz = gzip(&labels_idx(&payload));
    // Cut in the middle of the deflate data.
    let err = read_idx_bytes("l.gz", &gz[..gz.len() / 2], true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
    // Cut inside the trailer.
    let err = read_idx_bytes("l.gz", &gz[..gz.len() - 3], true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
    // Header bytes intact, deflate data replaced by garbage.
    let mut bad = gz[..10].to_vec();
    bad.extend_from_slice(&[0xff; 64]);
    let err = read_idx_bytes("l.gz", &bad, true, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
}

#[test]
fn non_gzip_file_named_gz() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train-labels-idx1-ubyte.gz");
    fs::write(&path, labels_idx(&[1, 2, 3])).unwrap();
    let err = read_idx_file(&path, 1, &limits()).unwrap_err();
    assert!(matches!(&err.kind, IdxErrorKind::NotGzip { found } if found == &[0, 0]), "{err}");
    // A one-byte file too.
    fs::write(&path, [0x1f]).unwrap();
    let err = read_idx_file(&path, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::NotGzip { .. }), "{err}");
}

#[test]
fn missing_file_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.gz");
    let err = read_idx_file(&path, 1, &limits()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::Io(_)), "{err}");
    assert_eq!(err.path, path);
}

// ---------------------------------------------------------------- dataset errors

#[test]
fn label_out_of_range_names_file_index_and_label() {
    let mut files = small_set();
    files[1] = labels_idx(&[0, 1, 2, 3, 4, 12]);
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &files, true);
    let err = load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::LabelOutOfRange { index: 5, label: 12, classes: 10 }), "{err}");
    assert_eq!(err.path, dir.path().join("train-labels-idx1-ubyte.gz"));
    let msg = err.to_string();
    assert!(msg.contains("train-labels-idx1-ubyte.gz: label 12 at index 5 is >= 10 classes"), "{msg}");

    // In the test split, with a smaller class count.
    let opts = LoadOptions { classes: Some(9), ..small_opts() };
    let mut files = small_set();
    files[1] = labels_idx(&[0, 1, 2, 3, 4, 5]);
    let err = load_set(&files, &opts).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::LabelOutOfRange { index: 2, label: 9, classes: 9 }), "{err}");
    assert!(err.path.ends_with("t10k-labels-idx1-ubyte.gz"));
}

#[test]
fn image_and_label_counts_must_match() {
    let mut files = small_set();
    files[3] = labels_idx(&[1, 2]); // 3 test images, 2 labels
    let err = load_set(&files, &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CountMismatch { labels: 2, images: 3, .. }), "{err}");
    assert!(err.path.ends_with("t10k-labels-idx1-ubyte.gz"));
}

#[test]
fn wrong_image_size_names_images_file() {
    // 2x2 images where the model takes 784 pixels.
    let err = load_set(&small_set(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::WrongImageSize { rows: 2, cols: 2, expected: 784 }), "{err}");
    assert!(err.path.ends_with("train-images-idx3-ubyte.gz"));
    assert!(err.to_string().contains("train-images-idx3-ubyte.gz: images are 2x2"));
}

#[test]
fn train_and_test_shapes_must_agree() {
    let mut files = small_set();
    files[2] = images_idx(3, 1, 4); // 4 pixels, like 2x2, but a different shape
    let err = load_set(&files, &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::ShapeMismatch { .. }), "{err}");
    assert!(err.path.ends_with("t10k-images-idx3-ubyte.gz"));
}

#[test]
fn empty_split_is_rejected() {
    let mut files = small_set();
    files[2] = images_idx(0, 2, 2);
    files[3] = labels_idx(&[]);
    let err = load_set(&files, &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::NoSamples), "{err}");
}

#[test]
fn missing_file_in_dir_names_file_and_tried_paths() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &small_set(), true);
    fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).unwrap_err();
    match &err.kind {
        IdxErrorKind::MissingFile { file, tried } => {
            assert_eq!(file, "t10k-labels-idx1-ubyte");
            assert!(tried.contains(&dir.path().join("t10k-labels-idx1-ubyte.gz")));
            assert!(tried.contains(&dir.path().join("t10k-labels-idx1-ubyte")));
        }
        other => panic!("expected MissingFile, got {other:?}"),
    }
    assert_eq!(err.path, dir.path());
    let msg = err.to_string();
    assert!(msg.contains("missing t10k-labels-idx1-ubyte"), "{msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
}

#[test]
fn missing_dir_is_not_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("does-not-exist");
    let err = load(&DataSource::Dir(gone.clone()), &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::NotADirectory), "{err}");
    assert_eq!(err.path, gone);
}

#[test]
fn bad_file_in_dir_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &small_set(), true);
    let path = dir.path().join("t10k-images-idx3-ubyte.gz");
    let mut gz = fs::read(&path).unwrap();
    let crc_at = gz.len() - 8;
    gz[crc_at] ^= 0x55;
    fs::write(&path, gz).unwrap();
    let err = load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::CorruptGzip { .. }), "{err}");
    assert_eq!(err.path, path);
    assert!(err.to_string().starts_with(&path.display().to_string()));
}

// ---------------------------------------------------------------- positive tests

#[test]
fn valid_small_set_round_trips() {
    let files = small_set();
    let dir = tempfile::tempdir().unwrap();
    let named = dir.path().join("tiny-set");
    fs::create_dir(&named).unwrap();
    write_set(&named, &files, true);
    let ds = load(&DataSource::Dir(named), &small_opts()).unwrap();
    assert_eq!(ds.name, "tiny-set");
    assert_eq!(ds.classes, 10);
    assert_eq!((ds.train.len(), ds.test.len()), (6, 3));
    assert_eq!((ds.train.rows, ds.train.cols, ds.train.pixels()), (2, 2, 4));
    assert_eq!(ds.train.labels, vec![0, 1, 2, 3, 4, 9]);
    assert_eq!(ds.test.labels, vec![7, 8, 9]);
    assert_eq!(ds.train.features, Features::Pixels(files[0][16..].to_vec()));
    assert_eq!(ds.test.features, Features::Pixels(files[2][16..].to_vec()));
    assert_eq!(ds.train.image(1), Some(&files[0][16 + 4..16 + 8]));

    let mut train = ds.train.clone();
    train.truncate(2);
    assert_eq!((train.len(), train.features.len()), (2, 8));
    train.truncate(100);
    assert_eq!(train.len(), 2);
    train.truncate(0);
    assert!(train.is_empty() && train.features.is_empty());
}

#[test]
fn raw_dir_works() {
    let files = small_set();
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &files, false);
    let ds = load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (6, 3));
    assert_eq!(ds.train.features, Features::Pixels(files[0][16..].to_vec()));
}

#[test]
fn old_style_names_and_mixed_compression_work() {
    let files = small_set();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train-images.idx3-ubyte"), &files[0]).unwrap();
    fs::write(dir.path().join("train-labels.idx1-ubyte.gz"), gzip(&files[1])).unwrap();
    fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), gzip(&files[2])).unwrap();
    fs::write(dir.path().join("t10k-labels-idx1-ubyte"), &files[3]).unwrap();
    let ds = load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).unwrap();
    assert_eq!(ds.train.labels, vec![0, 1, 2, 3, 4, 9]);
    assert_eq!(ds.test.labels, vec![7, 8, 9]);
}

#[test]
fn gz_preferred_over_raw() {
    let dir = tempfile::tempdir().unwrap();
    write_set(dir.path(), &small_set(), true);
    // A broken raw file next to the good .gz one is never opened.
    fs::write(dir.path().join("train-labels-idx1-ubyte"), b"garbage").unwrap();
    assert!(load(&DataSource::Dir(dir.path().to_path_buf()), &small_opts()).is_ok());
}

#[test]
fn classes_none_is_max_label_plus_one() {
    let mut files = small_set();
    files[1] = labels_idx(&[0, 1, 2, 3, 4, 200]);
    files[3] = labels_idx(&[0, 0, 17]);
    let opts = LoadOptions { classes: None, input_size: None, ..LoadOptions::default() };
    let ds = load_set(&files, &opts).unwrap();
    assert_eq!(ds.classes, 201);
    // With input_size None any image shape is accepted.
    let mut files = small_set();
    files[0] = images_idx(6, 3, 5);
    files[2] = images_idx(3, 3, 5);
    let ds = load_set(&files, &opts).unwrap();
    assert_eq!((ds.train.pixels(), ds.classes), (15, 10));
}

#[test]
fn parse_idx_returns_dims_and_data() {
    let arr = parse(&images_idx(2, 3, 4), 3).unwrap();
    assert_eq!(arr.dims, vec![2, 3, 4]);
    assert_eq!(arr.data.len(), 24);
    let arr = parse(&labels_idx(&[]), 1).unwrap();
    assert_eq!(arr.dims, vec![0]);
    assert!(arr.data.is_empty());
}

#[test]
fn embedded_mnist_loads() {
    let ds = load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    assert_eq!(ds.name, "mnist");
    assert_eq!(ds.classes, 10);
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    for split in [&ds.train, &ds.test] {
        assert_eq!((split.rows, split.cols), (28, 28));
        assert_eq!(split.features.len(), split.len() * 784);
    }
    assert_eq!(histogram(&ds.train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(histogram(&ds.test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // Well-known facts about MNIST: the first training label is a 5, the first test label a 7,
    // and pixel values span the full byte range.
    assert_eq!(ds.train.labels[0], 5);
    assert_eq!(ds.test.labels[0], 7);
    assert_eq!(ds.train.features.pixels().unwrap().iter().max(), Some(&255));
    assert_eq!(ds.train.features.pixels().unwrap().iter().min(), Some(&0));
}

#[test]
fn embedded_equals_assets_dir() {
    let from_dir = load(&DataSource::Dir(manifest_dir().join("assets/mnist")), &LoadOptions::default()).unwrap();
    let embedded = load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    assert_eq!(from_dir.name, "mnist");
    assert!(from_dir.train == embedded.train && from_dir.test == embedded.test);
}

#[test]
fn embedded_errors_name_assets_path() {
    // The embedded set has 28x28 images; asking for another size names the embedded file.
    let opts = LoadOptions { input_size: Some(100), ..LoadOptions::default() };
    let err = load(&DataSource::Embedded, &opts).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::WrongImageSize { .. }));
    assert_eq!(err.path, PathBuf::from("assets/mnist/train-images-idx3-ubyte.gz"));
    // And a class count below 10 names the labels file.
    let opts = LoadOptions { classes: Some(5), ..LoadOptions::default() };
    let err = load(&DataSource::Embedded, &opts).unwrap_err();
    assert!(matches!(err.kind, IdxErrorKind::LabelOutOfRange { index: 0, label: 5, classes: 5 }));
    assert_eq!(
        err.to_string().split(" (").next().unwrap(),
        "assets/mnist/train-labels-idx1-ubyte.gz: label 5 at index 0 is >= 5 classes"
    );
}

#[test]
fn assets_match_sha256sums() {
    let dir = manifest_dir().join("assets/mnist");
    let sums = fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (want, name) = line.split_once(char::is_whitespace).unwrap();
        let name = name.trim().trim_start_matches('*');
        let bytes = fs::read(dir.join(name)).unwrap();
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, want.to_lowercase(), "{name}");
        checked += 1;
    }
    // Every embedded file is covered.
    for stem in FILES {
        assert!(sums.contains(&format!("{stem}.gz")), "{stem} not in SHA256SUMS");
    }
    assert_eq!(checked, 4);
}

#[test]
fn fashion_mnist_loads() {
    let dir = PathBuf::from("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        assert!(
            std::env::var("GPU_MNIST_REQUIRE_DATA").as_deref() != Ok("1"),
            "GPU_MNIST_REQUIRE_DATA=1 but {} is missing",
            dir.display()
        );
        println!("skipped: {} not found", dir.display());
        return;
    }
    let ds = load(&DataSource::Dir(dir), &LoadOptions::default()).unwrap();
    assert_eq!(ds.name, "fashion-mnist");
    assert_eq!(ds.classes, 10);
    assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
    assert_eq!((ds.train.rows, ds.train.cols), (28, 28));
    // Fashion-MNIST is balanced.
    assert_eq!(histogram(&ds.train.labels), [6000; 10]);
    assert_eq!(histogram(&ds.test.labels), [1000; 10]);
    // It is not MNIST.
    let mnist = load(&DataSource::Embedded, &LoadOptions::default()).unwrap();
    assert_ne!(ds.train.image(0), mnist.train.image(0));
}

/// A reader that hands out one byte per call and is interrupted (`ErrorKind::Interrupted`, as a read cut short by a
/// signal) before every other one: the parser must retry, not fail, and read the same array.
struct Interrupting<'a> {
    bytes: &'a [u8],
    interrupt: bool,
}

impl Read for Interrupting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = buf.len().min(self.bytes.len()).min(1);
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn interrupted_reads_are_retried() {
    let bytes = images_idx(3, 2, 2);
    let want = parse(&bytes, 3).unwrap();
    let got = gpu_mnist::data::parse_idx(Interrupting { bytes: &bytes, interrupt: false }, 3, &limits()).unwrap();
    assert_eq!(got.dims, [3, 2, 2]);
    assert_eq!(got.data, want.data);
}
