//! Arbitrary bytes as a safetensors checkpoint (`Checkpoint::load_bytes`, the checks `--resume`, `eval` and
//! `predict` run on a file). It must never panic and every failure must be an `Error::Checkpoint`; a checkpoint
//! that loads must pass its own checks and survive serialise → load and save → load unchanged. See
//! `checkpoint_loader` in `tests/fuzz_harness/mod.rs` (shared with `tests/fuzz_regressions.rs`).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

/// Where loaded checkpoints are saved to test save → load (and removed again): a directory of this process, in
/// memory (`/dev/shm`) where there is one, since `save` syncs to disk. The empty directory stays behind.
fn save_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        let dir = base.join(format!("gpu-mnist-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzzer's scratch directory");
        dir.join("saved.safetensors")
    })
}

fuzz_target!(|data: &[u8]| harness::checkpoint_loader(data, save_path()));
