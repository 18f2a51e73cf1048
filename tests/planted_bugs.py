#!/usr/bin/env python3
"""Plants small, plausible bugs one at a time in a scratch copy of the tree and runs the tests that must catch them:
every planted bug must make at least one of them fail. A control run with no bug must pass, so a failure comes from
the bug and not from the scratch copy.

Each bug runs in CI's configuration (lavapipe, GPU_MNIST_REQUIRE_GPU=1, GPU_MNIST_BACKEND=vulkan) and, unless it can
only show on a GPU, again with no GPU adapter at all (the Vulkan loader pointed at nothing): a CPU bug must not
depend on a GPU being there to be caught.

    python3 tests/planted_bugs.py            # every bug; prints a table, exits 1 if any bug survives
    python3 tests/planted_bugs.py shuffle    # the bugs whose name contains "shuffle"

Not run by CI (it rebuilds the crate once per bug, a minute or two each on two cores). The scratch copy lives in
target/planted-src and builds into target/planted, so the first run also builds the dependencies once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, "target", "planted-src")
TARGET = os.path.join(ROOT, "target", "planted")

# (name, file, text, replacement, tests that must catch it, whether it can only show on a GPU)
BUGS = [
    (
        "the bias update left out of the step plan",
        "src/plan/steps.rs",
        "ops.push(Op::Update { param: l.b, state: l.sb, grad: l.gb, optimizer, len: l.outputs, decay_steps });",
        "// ops.push(Op::Update { param: l.b, state: l.sb, grad: l.gb, optimizer, len: l.outputs, decay_steps });",
        ["pytorch_golden", "train_loop"],
        False,
    ),
    (
        "every epoch reuses the same shuffle order",
        "src/train/mod.rs",
        "order.shuffle(&mut epoch_rng(self.config.seed, self.epoch));",
        "order.shuffle(&mut epoch_rng(self.config.seed, 0));",
        ["train_loop"],
        False,
    ),
    (
        "Tolerance::allows always true",
        "src/gpu/check/compare.rs",
        "got == want || (got - want).abs() <= self.atol + self.rtol * want.abs()",
        "got == want || (got - want).abs() <= self.atol + self.rtol * want.abs() || true",
        ["check_can_fail", "--lib"],
        False,
    ),
    (
        "the carry into the step counter's high word removed",
        "shaders/counters.wgsl",
        "counters[STEPS_HI] += 1u;",
        "counters[STEPS_HI] += 0u;",
        ["train_loop", "gpu_kernels"],
        True,
    ),
    (
        "bench --matmul never writes its inputs",
        "src/bench/matmul.rs",
        "    backend.write_buffer(l.x, &fill(n, 1))?;\n    backend.write_buffer(l.w, &fill(n, 2))?;\n",
        "",
        ["bench_probes"],
        False,
    ),
    (
        "IDX dimensions reversed on the success path",
        "src/data/idx.rs",
        "Ok(IdxArray { dims, data })",
        "Ok(IdxArray { dims: dims.into_iter().rev().collect(), data })",
        ["idx_proptest"],
        False,
    ),
    (
        "Adam's first-moment bias correction removed (CPU)",
        "src/cpu/ops/update.rs",
        "*p -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);",
        "*p -= lr * *m / ((*v / c2).sqrt() + eps);",
        ["pytorch_golden", "cpu_hand_worked"],
        False,
    ),
]

CI_ENV = {"GPU_MNIST_REQUIRE_GPU": "1", "GPU_MNIST_BACKEND": "vulkan"}
NO_GPU_ENV = {"VK_ICD_FILENAMES": "/nonexistent.json", "GPU_MNIST_BACKEND": "vulkan"}


def copy_tree():
    """The tracked and untracked-but-not-ignored files of the checkout, copied fresh into SCRATCH."""
    shutil.rmtree(SCRATCH, ignore_errors=True)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for f in filter(None, files):
        src, dst = os.path.join(ROOT, f.decode()), os.path.join(SCRATCH, f.decode())
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            # A fresh modification time (not copy2's): cargo decides what to rebuild by mtime, and a file put back
            # with its old time after a planted run would leave that run's build, bug included, in place.
            shutil.copy(src, dst)


def plant(file, text, replacement):
    path = os.path.join(SCRATCH, file)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    count = source.count(text)
    if count != 1:
        sys.exit(f"{file}: the text to replace occurs {count} times, not once: {text!r} (update tests/planted_bugs.py)")
    with open(path, "w", encoding="utf-8") as f:
        f.write(source.replace(text, replacement))


def run_tests(tests, extra_env):
    """(passed, failing test names) of `cargo test --release` on `tests` in the scratch copy."""
    args = ["cargo", "test", "--release", "--no-fail-fast"]
    for t in tests:
        args += [t] if t.startswith("--") else ["--test", t]
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET, **extra_env)
    out = subprocess.run(args, cwd=SCRATCH, env=env, capture_output=True, text=True)
    failed = sorted({line.split()[1] for line in out.stdout.splitlines() if line.startswith("test ") and line.endswith("FAILED")})
    if out.returncode != 0 and not failed:
        failed = ["(did not build or crashed: " + out.stderr.strip().splitlines()[-1] + ")"]
    return out.returncode == 0, failed


def main():
    wanted = sys.argv[1:]
    bugs = [b for b in BUGS if not wanted or any(w in b[0] for w in wanted)]
    rows, survivors = [], 0
    copy_tree()
    every_test = sorted({t for b in bugs for t in b[4]})
    for config, env in (("CI (lavapipe)", CI_ENV), ("no GPU", NO_GPU_ENV)):
        ok, failed = run_tests(every_test, env)
        if not ok:
            sys.exit(f"control run without a bug failed in {config}: {failed}")
    print(f"control: {', '.join(every_test)} pass with no bug planted, with and without a GPU")
    for name, file, text, replacement, tests, gpu_only in bugs:
        copy_tree()
        plant(file, text, replacement)
        for config, env in (("CI (lavapipe)", CI_ENV), ("no GPU", NO_GPU_ENV)):
            if gpu_only and config == "no GPU":
                continue
            started = time.time()
            ok, failed = run_tests(tests, env)
            survivors += ok
            verdict = "SURVIVED" if ok else "caught by " + ", ".join(failed)
            rows.append(f"| {name} | {config} | {verdict} | {time.time() - started:.0f} s |")
            print(rows[-1], flush=True)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    print("\n| planted bug | configuration | result | time |\n| --- | --- | --- | --- |")
    print("\n".join(rows))
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
