//! A checkpoint is loadable outside gpu-mnist, as the README shows: read with the `safetensors` Python package, the
//! forward pass in numpy (`tests/support/numpy_forward.py`) gives `eval`'s test loss and accuracy line to the last
//! printed digit; where PyTorch is installed, so does the README's `torch.nn.Sequential` loader
//! (`examples/pytorch_load.py`). Without Python's safetensors and numpy the test says it skipped, unless
//! `GPU_MNIST_REQUIRE_PYTHON=1` (CI installs them) makes that a failure.

mod support;

use std::path::Path;
use std::process::Command;

/// Whether `python3` can import `module`.
fn python_has(module: &str) -> bool {
    Command::new("python3").args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success())
}

/// The `test loss … acc …% (c/n)` line of a command's output.
fn loss_line(stdout: &str) -> String {
    stdout.lines().find(|l| l.starts_with("test loss")).unwrap_or_default().to_owned()
}

/// Runs a Python script on `checkpoint` with the embedded MNIST's files, returning its one line.
fn python(script: &str, checkpoint: &Path) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("python3")
        .arg(Path::new(root).join(script))
        .arg(checkpoint)
        .arg(Path::new(root).join("assets/mnist"))
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script}: {stderr}");
    loss_line(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn a_checkpoint_should_give_evals_numbers_in_python() {
    if !(python_has("safetensors") && python_has("numpy")) {
        assert!(
            std::env::var_os("GPU_MNIST_REQUIRE_PYTHON").is_none(),
            "GPU_MNIST_REQUIRE_PYTHON is set but python3 cannot import safetensors and numpy"
        );
        println!("skipped: python3 with safetensors and numpy not found (pip install safetensors numpy)");
        return;
    }
    let torch = python_has("torch");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Softmax cross-entropy on ReLU, leaky ReLU and GELU (numpy's exact erf against gpu-mnist's approximation), and
    // the quadratic cost on a sigmoid output after tanh layers.
    let runs: [&[&str]; 4] = [
        &["--hidden", "32", "--epochs", "1", "--limit", "5000"],
        &["--hidden", "24", "--activation", "leaky-relu", "--leaky-slope", "0.2", "--limit", "3000"],
        &["--hidden", "24", "--activation", "gelu", "--optimizer", "adam", "--limit", "3000"],
        &[
            "--hidden",
            "20,12",
            "--activation",
            "tanh",
            "--loss",
            "mse",
            "--optimizer",
            "sgd",
            "--lr",
            "3",
            "--limit",
            "3000",
        ],
    ];
    for (i, flags) in runs.iter().enumerate() {
        let name = format!("m{i}.safetensors");
        let train = [&["train", "--save", &name, "-q"][..], flags].concat();
        support::ok(d, &train);
        let eval = loss_line(&support::ok(d, &["eval", "--model", &name]));
        assert!(eval.starts_with("test loss "), "{eval}");
        assert_eq!(python("tests/support/numpy_forward.py", &d.join(&name)), eval, "numpy, {flags:?}");
        if torch {
            assert_eq!(python("examples/pytorch_load.py", &d.join(&name)), eval, "PyTorch, {flags:?}");
        } else {
            println!("PyTorch not installed: examples/pytorch_load.py not run");
        }
    }
}

/// The README shows the loader's key lines as they are in `examples/pytorch_load.py`, which the test above runs.
#[test]
fn the_readme_should_show_the_tested_pytorch_loader() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/pytorch_load.py")).unwrap();
    let start = example.find("# The architecture is in").expect("the loader's first line");
    let end = example.find("\n\ndef idx").expect("the loader's end");
    let loader = &example[start..end];
    assert!(readme.contains(loader), "README.md should quote examples/pytorch_load.py's loader:\n{loader}");
}
