//! Writing to a full disk, for real: a small tmpfs filled to the last page (as root, which CI is), or else a file
//! size limit of 0 bytes (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so a write fails with EFBIG instead of killing the
//! process). Every output fails with one clear line naming the file, leaves no partial or empty file behind, and a
//! failing `--metrics` never costs the model: the `--save` checkpoint on a healthy disk is written first.

mod support;

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder on a full file system: a tmpfs mounted for the test (unmounted when dropped), or `None` where this
/// process may not mount one.
struct FullDisk {
    dir: tempfile::TempDir,
    filler: PathBuf,
}

impl FullDisk {
    /// Mounts a 256 KiB tmpfs on a new folder and fills it with one file until the file system refuses.
    fn mount() -> Option<FullDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        let filler = dir.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let page = vec![0xAAu8; 4096];
        loop {
            match f.write_all(&page) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        f.sync_all().ok();
        Some(FullDisk { dir, filler })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Frees `bytes` (whole pages) of the filler, so that much can be written before the disk is full again.
    fn free(&self, bytes: u64) {
        let f = std::fs::OpenOptions::new().write(true).open(&self.filler).unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(bytes)).unwrap();
    }

    /// The files in the folder other than the filler (a partial file or a leftover temporary file would show here).
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = walk(self.path())
            .into_iter()
            .filter(|p| *p != self.filler)
            .map(|p| p.strip_prefix(self.path()).unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Every file under `dir`, folders left out.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Runs `gpu-mnist ARGS…` in `dir`; with `max_file_size` no file of the process grows past that many bytes
/// (RLIMIT_FSIZE: a write beyond fails with EFBIG).
fn run(dir: &Path, args: &[&str], max_file_size: Option<u64>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpu-mnist"));
    cmd.args(args).current_dir(dir);
    if let Some(bytes) = max_file_size {
        // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit) are made.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: libc::RLIM_INFINITY };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.output().expect("run gpu-mnist")
}

/// The command failed with exit code 1 and no panic, and its one `error:` line names `file` and the cause.
fn assert_failed_naming(what: &str, out: &Output, file: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{what}: exactly one error line: {stderr}");
    assert!(errors[0].contains(file), "{what}: the error names {file}: {stderr}");
    assert!(
        errors[0].contains("No space left on device") || errors[0].contains("File too large"),
        "{what}: the error says why: {stderr}"
    );
    stderr
}

/// A small trained model and a picture of a digit, on a healthy disk.
fn model_and_picture(dir: &Path) {
    support::ok(dir, &["train", "--hidden", "8", "--limit", "300", "--epochs", "1", "--save", "m.st", "-q"]);
    let mut img = image::GrayImage::from_pixel(40, 40, image::Luma([255]));
    for y in 8..32 {
        for x in 18..22 {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    img.save(dir.join("one.png")).unwrap();
}

/// `show --out`, `predict --save-inputs`, `eval --confusion` / `--confusion-png`, `train --plot` and `train --save`
/// on a full disk: exit 1, one line naming the file and "No space left on device" (or "File too large" under the
/// size limit), no partial, empty or temporary file left, and an older checkpoint there untouched.
#[test]
fn writes_to_a_full_disk_should_fail_clearly_and_leave_nothing_partial() {
    let healthy = tempfile::tempdir().unwrap();
    let h = healthy.path();
    model_and_picture(h);
    let disk = FullDisk::mount();
    let (full, limited) = match &disk {
        Some(disk) => {
            println!("a full 256 KiB tmpfs at {}", disk.path().display());
            (disk.path().to_path_buf(), None)
        }
        None => {
            println!("cannot mount a tmpfs here (not root): every write limited to 0 bytes by RLIMIT_FSIZE instead");
            (h.join("limited"), Some(0))
        }
    };
    std::fs::create_dir_all(&full).unwrap();
    let at = |name: &str| full.join(name).display().to_string();
    // An older checkpoint on that disk, written before it filled up (or before the limit), must survive.
    let old = std::fs::read(h.join("m.st")).unwrap();
    if let Some(disk) = &disk {
        disk.free(old.len() as u64 + 4096);
        std::fs::write(full.join("old.st"), &old).unwrap();
        // Full again: the freed pages are used up (the filler grows back to the limit).
        let mut f = std::fs::OpenOptions::new().append(true).open(&disk.filler).unwrap();
        while f.write_all(&[0u8; 512]).is_ok() {}
    } else {
        std::fs::write(full.join("old.st"), &old).unwrap();
    }
    let before = |disk: &Option<FullDisk>| disk.as_ref().map(FullDisk::files);
    let listing = before(&disk);

    let show = ["show", "--count", "4", "--out", &at("s.png")];
    assert_failed_naming("show --out", &run(h, &show, limited), "s.png");
    let eval = ["eval", "--model", "m.st", "--confusion", &at("c.csv")];
    assert_failed_naming("eval --confusion", &run(h, &eval, limited), "c.csv");
    let eval_png = ["eval", "--model", "m.st", "--confusion-png", &at("c.png")];
    assert_failed_naming("eval --confusion-png", &run(h, &eval_png, limited), "c.png");
    let plot = ["train", "--hidden", "8", "--limit", "300", "--epochs", "1", "-q", "--plot", &at("p.svg")];
    assert_failed_naming("train --plot", &run(h, &plot, limited), "p.svg");
    let save = ["train", "--hidden", "8", "--limit", "300", "--epochs", "1", "-q", "--save", &at("old.st")];
    assert_failed_naming("train --save", &run(h, &save, limited), "old.st");
    let inputs = at("inputs");
    let predict = ["predict", "--model", "m.st", "--save-inputs", &inputs, "one.png"];
    let out = run(h, &predict, limited);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "predict --save-inputs: {stderr}");
    assert!(stderr.contains("one.28x28.png"), "the picture's error names its file: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    assert_eq!(std::fs::read(full.join("old.st")).unwrap(), old, "the older checkpoint is untouched");
    if let Some(disk) = &disk {
        assert_eq!(Some(disk.files()), listing, "no partial, empty or temporary file is left");
    } else {
        let mut left: Vec<_> = walk(&full).into_iter().filter(|p| !p.ends_with("old.st")).collect();
        left.sort();
        assert!(left.is_empty(), "no partial, empty or temporary file is left: {left:?}");
    }
}

/// `--metrics` on a disk that fills up in the middle of a run, `--save` on a healthy disk: the run stops with one
/// error naming the metrics file, the checkpoint is saved first and loads, and the metrics file holds whole records
/// only. On a tmpfs with one free page (the first twenty-odd records fit); without one, under a 40 000-byte file
/// size limit, which a 784-10 SGD model's 32 KB checkpoint stays under and the metrics outgrow after some 230 epochs.
#[test]
fn a_metrics_file_filling_the_disk_should_not_cost_the_model() {
    let healthy = tempfile::tempdir().unwrap();
    let h = healthy.path();
    let disk = FullDisk::mount();
    let (dir, limit) = match &disk {
        Some(disk) => {
            disk.free(4096);
            (disk.path().to_path_buf(), None)
        }
        None => {
            println!("cannot mount a tmpfs here (not root): files limited to 40000 bytes by RLIMIT_FSIZE instead");
            (h.to_path_buf(), Some(40_000))
        }
    };
    let metrics = dir.join("m.jsonl").display().to_string();
    let model = ["--hidden", "", "--optimizer", "sgd", "--limit", "64", "--epochs", "400", "-q"];
    let args = [&["train", "--metrics", &metrics, "--save", "m.st"][..], &model].concat();
    let out = run(h, &args, limit);
    let stderr = assert_failed_naming("train --metrics (disk fills)", &out, "m.jsonl");
    assert!(stderr.contains("saved:   m.st"), "the checkpoint is saved before the run stops: {stderr}");
    support::ok(h, &["eval", "--model", "m.st"]);
    let written = std::fs::read_to_string(dir.join("m.jsonl")).unwrap();
    let records: Vec<serde_json::Value> =
        written.lines().map(|l| serde_json::from_str(l).expect("whole JSON records only")).collect();
    assert!(records.len() > 5 && records.len() < 400, "{} records", records.len());
    assert!(written.ends_with('\n'), "no partial last record");
}
