//! Helpers shared by the integration tests that drive the binary or count what a reader consumed.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::{Command, Output};

use flate2::write::GzEncoder;
use flate2::Compression;

/// Runs `gpu-mnist ARGS…` in `dir` and returns what it did.
pub fn gpu_mnist(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-mnist")).args(args).current_dir(dir).output().expect("run gpu-mnist")
}

/// Runs the binary and returns its stdout, failing the test (with both streams) if it fails or panics.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = gpu_mnist(dir, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    stdout.into_owned()
}

/// Runs the binary expecting it to fail, and returns its (stdout, stderr); fails the test (with both streams) if it
/// succeeds or panics.
pub fn fails(dir: &Path, args: &[&str]) -> (String, String) {
    let out = gpu_mnist(dir, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{args:?} should fail\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    (stdout.into_owned(), stderr.into_owned())
}

/// An IDX file of u8 values: the magic `00 00 08 <ndims>`, the big-endian dimensions, then `payload` (not checked
/// against the dimensions).
pub fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, u8::try_from(dims.len()).unwrap()];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// `bytes` as a gzip stream (fast compression: no test depends on the compressed size).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Reads at most as many bytes as its inner reader yields and counts them.
pub struct Counting<R> {
    /// The reader being counted.
    pub inner: R,
    /// Bytes read so far.
    pub count: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Starts `gpu-mnist ARGS…` in `dir` with both output streams piped.
pub fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gpu-mnist"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run gpu-mnist")
}

/// Waits for `child` at most `limit`: its output, or `None` after killing it when it has not ended by then. The
/// output is read only once the child has exited, so a child that writes more than a pipe holds would stall: for
/// commands whose output is small.
pub fn wait_bounded(mut child: std::process::Child, limit: std::time::Duration) -> Option<Output> {
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait for gpu-mnist").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Some(child.wait_with_output().expect("read gpu-mnist's output"))
}

/// The last record of a `--metrics` CSV file as numbers: epoch, train loss, train accuracy, test loss, test accuracy,
/// seconds, samples/s.
pub fn last_metrics(path: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().last().unwrap().split(',').map(|v| v.parse().unwrap()).collect()
}

/// Asserts that two runs' last records (from [`last_metrics`]) agree in losses and accuracies within `rtol` (of the
/// value, or absolutely below 1).
pub fn assert_runs_agree(a: &[f64], b: &[f64], rtol: f64) {
    for i in 1..5 {
        assert!((a[i] - b[i]).abs() <= rtol * a[i].abs().max(1.0), "column {i}: {a:?} vs {b:?}");
    }
}
