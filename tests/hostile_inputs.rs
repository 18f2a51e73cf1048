//! Hostile data files, driven through the binary as a user would meet them: each ends with a non-zero exit, one
//! clear line naming the file and the problem, no panic, and bounded memory (the gzip bombs included).
//! The README's "Reliability" section lists these cases with the message a user sees.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use flate2::write::GzEncoder;
use flate2::Compression;

mod support;
use support::{gpu_mnist, gzip, idx};

const IMAGES: &str = "train-images-idx3-ubyte";
const LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A valid small data set (n 28×28 images per split, labels 0..9), gzipped, in `dir`.
fn valid_set(dir: &Path, n: u32) {
    let images = idx(&[n, 28, 28], &(0..n * 784).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let labels = idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    for (stem, bytes) in [(IMAGES, &images), (LABELS, &labels), (TEST_IMAGES, &images), (TEST_LABELS, &labels)] {
        std::fs::write(dir.join(format!("{stem}.gz")), gzip(bytes)).unwrap();
    }
}

/// Runs `train` on `dir` and checks the failure: non-zero exit, one line on stderr naming `file` and containing
/// `problem`, no panic.
fn assert_fails(dir: &Path, file: &str, problem: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{file}: exit 0; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
    assert!(!stderr.contains("panicked"), "{file}: panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{file}: expected one line, got:\n{stderr}");
    eprintln!("{file}: {}", lines[0]);
    assert!(lines[0].contains(file), "{file}: the message does not name the file: {}", lines[0]);
    assert!(lines[0].contains(problem), "{file}: the message lacks {problem:?}: {}", lines[0]);
}

/// Replaces `stem` in a valid set by `bytes` (written as `stem.gz` if `gz`, else raw `stem`) and checks the failure.
fn case(stem: &str, bytes: &[u8], gz: bool, problem: &str) {
    let dir = tempfile::tempdir().unwrap();
    valid_set(dir.path(), 20);
    let name = if gz { format!("{stem}.gz") } else { stem.to_owned() };
    std::fs::remove_file(dir.path().join(format!("{stem}.gz"))).unwrap();
    std::fs::write(dir.path().join(&name), bytes).unwrap();
    assert_fails(dir.path(), &name, problem);
}

fn images(n: u32) -> Vec<u8> {
    idx(&[n, 28, 28], &vec![7; n as usize * 784])
}

#[test]
fn a_valid_set_trains() {
    let dir = tempfile::tempdir().unwrap();
    valid_set(dir.path(), 20);
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(["train", "--hidden", "8", "--epochs", "1", "--quiet", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn wrong_magic() {
    let mut bytes = images(20);
    bytes[0] = 0x50;
    case(IMAGES, &gzip(&bytes), true, "not an IDX file");
}

#[test]
fn wrong_type_code() {
    let mut bytes = images(20);
    bytes[2] = 0x0d; // float
    case(IMAGES, &gzip(&bytes), true, "unsupported IDX element type 0x0d");
}

#[test]
fn wrong_number_of_dims() {
    case(IMAGES, &gzip(&idx(&[20, 784], &vec![0; 20 * 784])), true, "declares 2 dimension(s), expected 3");
}

#[test]
fn truncated_payload() {
    let bytes = images(20);
    case(IMAGES, &gzip(&bytes[..bytes.len() - 100]), true, "truncated payload");
}

#[test]
fn trailing_bytes() {
    let mut bytes = images(20);
    bytes.extend_from_slice(b"extra");
    case(IMAGES, &gzip(&bytes), true, "trailing bytes");
}

#[test]
fn dims_whose_product_overflows() {
    case(IMAGES, &gzip(&idx(&[u32::MAX, u32::MAX, u32::MAX], &[])), true, "multiply to more than");
}

#[test]
fn billions_of_images_in_a_tiny_file() {
    case(IMAGES, &gzip(&idx(&[4_000_000_000, 28, 28], &[1, 2, 3])), true, "above the limit");
}

#[test]
fn corrupt_gzip_bad_crc() {
    let mut gz = gzip(&images(20));
    let n = gz.len();
    gz[n - 8] ^= 0xff; // the CRC32 in the trailer
    case(IMAGES, &gz, true, "corrupt gzip");
}

#[test]
fn not_gzip_named_gz() {
    case(IMAGES, &images(20), true, "not gzip");
}

#[test]
fn label_out_of_range() {
    let mut labels = idx(&[20], &[1; 20]);
    labels[8 + 5] = 12;
    case(LABELS, &gzip(&labels), true, "label 12 at index 5 is >= 10 classes");
}

#[test]
fn image_label_count_mismatch() {
    case(LABELS, &gzip(&idx(&[19], &[1; 19])), true, "19 labels but");
}

#[test]
fn images_not_28_by_28() {
    case(IMAGES, &gzip(&idx(&[20, 32, 32], &vec![0; 20 * 1024])), true, "32x32");
}

#[test]
fn empty_file() {
    case(IMAGES, &[], false, "empty");
}

#[test]
fn directory_missing_a_file() {
    let dir = tempfile::tempdir().unwrap();
    valid_set(dir.path(), 20);
    std::fs::remove_file(dir.path().join(format!("{TEST_LABELS}.gz"))).unwrap();
    assert_fails(dir.path(), TEST_LABELS, "missing");
}

/// Gzip bombs: a header declaring 94 MB (under the 128 MiB cap) followed by 300 MB of zeros, and a 20-image header
/// followed by the same. Both stop at the declared size + 1 byte; the children's peak RSS stays under 200 MB.
#[test]
fn gzip_bombs_stop_early_with_bounded_memory() {
    let zeros = vec![0u8; 300 << 20];
    for declared in [120_000u32, 20] {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&idx(&[declared, 28, 28], &[])).unwrap();
        e.write_all(&zeros).unwrap();
        case(IMAGES, &e.finish().unwrap(), true, "trailing bytes");
    }
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    let peak_mb = usage.ru_maxrss as f64 / 1024.0; // Linux reports KiB
    eprintln!("peak RSS of the children: {peak_mb:.0} MB");
    assert!(peak_mb < 200.0, "a child's peak RSS was {peak_mb:.0} MB");
}

/// Hostile checkpoints through `gpu-mnist eval --model`: truncated, not safetensors, a wrong shape, a wrong dtype,
/// non-finite values. Each: exit 1, one line naming the file and the problem, no panic.
#[test]
fn hostile_checkpoints() {
    use safetensors::tensor::{Dtype, TensorView};
    use safetensors::SafeTensors;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["train", "--limit", "300", "--hidden", "8", "--epochs", "1", "--quiet", "--save", "ok.st"];
    let out = gpu_mnist(d, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = std::fs::read(d.join("ok.st")).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&good).unwrap();
    let st = SafeTensors::deserialize(&good).unwrap();

    // Rewrites ok.st with `change` applied to each (name, dtype, shape, bytes).
    type Change<'a> = &'a dyn Fn(&str, &mut Dtype, &mut Vec<usize>, &mut Vec<u8>);
    let rewrite = |change: Change| -> Vec<u8> {
        let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name.clone(), view.dtype(), view.shape().to_vec(), view.data().to_vec()))
            .collect();
        for (name, dtype, shape, bytes) in &mut tensors {
            change(name, dtype, shape, bytes);
        }
        let views: Vec<(String, TensorView)> =
            tensors.iter().map(|(n, t, s, b)| (n.clone(), TensorView::new(*t, s.clone(), b).unwrap())).collect();
        safetensors::serialize(views, meta.metadata().clone()).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.st", good[..good.len() / 2].to_vec(), "truncated"),
        ("random.st", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(), "not a safetensors file"),
        (
            "shape.st",
            rewrite(&|n, _, s, _| {
                if n == "layers.0.weight" {
                    s.reverse()
                }
            }),
            "has shape [784, 8]",
        ),
        (
            "dtype.st",
            rewrite(&|n, t, s, b| {
                if n == "layers.0.bias" {
                    (*t, *b) = (Dtype::F64, vec![0; s[0] * 8]);
                }
            }),
            "has dtype F64",
        ),
        (
            "nan.st",
            rewrite(&|n, _, _, b| {
                if n == "layers.1.weight" {
                    b[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
                }
            }),
            "holds NaN",
        ),
    ];
    for (name, bytes, problem) in cases {
        std::fs::write(d.join(name), bytes).unwrap();
        let out = gpu_mnist(d, &["eval", "--model", name]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: expected one line:\n{stderr}");
        eprintln!("{name}: {}", lines[0]);
        assert!(lines[0].contains(name) && lines[0].contains(problem), "{name}: {}", lines[0]);
    }
}

/// Models and batches too large for memory, or with widths past the limit, are refused before anything is
/// allocated, with one line naming the flag to change — not an allocation abort.
#[test]
fn oversized_models_and_batches_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["train", "--hidden", "100000000", "--epochs", "1"], "is over the limit of 16777216"),
        (&["train", "--hidden", "4000000,4000000", "--epochs", "1"], "use narrower --hidden layers"),
        // A batch past the data set is the data set (60000 rows), and those rows are what does not fit here.
        (
            &["train", "--hidden", "200000", "--batch-size", "100000000", "--epochs", "1"],
            "the 60000 rows of a step: use a smaller --batch-size",
        ),
        (&["bench", "--backends", "cpu", "--matmul", "1000000"], "--matmul 1000000: try a smaller N"),
    ];
    for (args, problem) in cases {
        let out = gpu_mnist(dir.path(), args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("memory allocation"), "{args:?}: {stderr}");
    }
}
