//! The files a command reads and writes, checked against each other before any work: an output that is one of the
//! inputs, or another output, would destroy it (a checkpoint turned into a plot, metrics overwritten by the model).

use std::path::{Path, PathBuf};

use anyhow::Result;

/// A file named on the command line, with the flag that named it.
pub type Named<'a> = (&'static str, &'a Path);

/// Borrows `(flag, path)` pairs as [`Named`]s.
pub fn refs<'a>(named: &'a [(&'static str, PathBuf)]) -> Vec<Named<'a>> {
    named.iter().map(|(flag, path)| (*flag, path.as_path())).collect()
}

/// Whether `a` and `b` name the same file: the same file on disk where both exist (through any links or relative
/// spellings), else the same absolute path once `.` and `..` are resolved.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let Some(same) = same_existing(a, b) {
        return same;
    }
    normalized(a).is_some_and(|a| normalized(b).is_some_and(|b| a == b))
}

/// Whether two existing paths are one file, `None` unless both exist. On Unix from `stat` alone (device and inode),
/// which never opens either file: opening a FIFO would wait for a writer forever.
#[cfg(unix)]
fn same_existing(a: &Path, b: &Path) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (std::fs::metadata(a).ok()?, std::fs::metadata(b).ok()?);
    Some(a.dev() == b.dev() && a.ino() == b.ino())
}

/// Whether two existing paths are one file, `None` unless both exist (the `same-file` crate's handles).
#[cfg(not(unix))]
fn same_existing(a: &Path, b: &Path) -> Option<bool> {
    same_file::is_same_file(a, b).ok()
}

/// `path` made absolute, with `.` and `..` resolved lexically.
fn normalized(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Refuses, naming both flags, an output that is the same file as an input or as another output. `allowed` lists
/// (output flag, input flag) pairs that may name one file on purpose (`--save` over its own `--resume` checkpoint,
/// written atomically; `--metrics` appended to on resume).
pub fn check_distinct(inputs: &[Named], outputs: &[Named], allowed: &[(&str, &str)]) -> Result<()> {
    for (i, &(out_flag, out)) in outputs.iter().enumerate() {
        for &(in_flag, input) in inputs {
            if !allowed.contains(&(out_flag, in_flag)) && same_file(out, input) {
                anyhow::bail!(
                    "{out_flag} {} is the file {in_flag} reads: writing it would destroy that input; give {out_flag} \
                     another path",
                    out.display()
                );
            }
        }
        for &(other_flag, other) in &outputs[i + 1..] {
            if same_file(out, other) {
                anyhow::bail!(
                    "{out_flag} and {other_flag} both name {}: one would overwrite the other; give them different \
                     paths",
                    out.display()
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_path_are_the_same_file() {
        assert!(same_file(Path::new("a/b.txt"), Path::new("a/./c/../b.txt")));
        assert!(!same_file(Path::new("a/b.txt"), Path::new("a/c.txt")));
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(same_file(&real, &link), "a symlink is its target");
    }

    #[test]
    fn an_output_equal_to_an_input_or_another_output_is_refused() {
        let (m, p) = (Path::new("m.st"), Path::new("p.svg"));
        assert!(check_distinct(&[("--resume", m)], &[("--plot", p)], &[]).is_ok());
        let err = check_distinct(&[("--resume", m)], &[("--plot", m)], &[]).unwrap_err().to_string();
        assert!(err.contains("--plot") && err.contains("--resume"), "{err}");
        let err = check_distinct(&[], &[("--metrics", p), ("--save", p)], &[]).unwrap_err().to_string();
        assert!(err.contains("--metrics and --save"), "{err}");
        assert!(check_distinct(&[("--resume", m)], &[("--save", m)], &[("--save", "--resume")]).is_ok());
    }
}
