#!/usr/bin/env python3
"""gpu-mnist against its PyTorch twin, side by side.

For each configuration (every --hidden × every --batch-sizes entry) this runs `gpu-mnist train` and
`benches/pytorch_twin.py` alternately, --rounds times each, as separate processes, and reports:

  * the median training seconds per epoch of each (from gpu-mnist's --metrics JSON lines and the twin's --json;
    "seconds" is the training pass only: shuffle + every minibatch, evaluation excluded), and their ratio
    gpu-mnist / torch;
  * the test accuracy after the last epoch of each (median over rounds);
  * the peak resident memory (max RSS) of each child process, read from the rusage that os.wait4 returns for
    exactly that child, and their ratio.

The order alternates every round (gpu-mnist first, then torch first, …) so that slow drifts of a shared machine hit
both sides alike. Both sides use --threads threads: torch.set_num_threads in the twin, MATMUL_NUM_THREADS for
gpu-mnist's CPU backend (matrixmultiply uses at most 4).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TWIN = Path(__file__).resolve().parent / "pytorch_twin.py"

# The targets of the fast-step issue (11): gpu-mnist CPU epoch time ≤ this × PyTorch's, per batch size, with 2 threads
# (issue 4 had asked 0.5 and 1.0); peak memory ≤ 1/4 of PyTorch's.
TIME_TARGETS = {64: 0.55, 256: 0.9}
MEMORY_TARGET = 0.25


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def csv_ints(s: str) -> list[int]:
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a comma-separated list of integers") from None
    if not v or any(x < 1 for x in v):
        raise argparse.ArgumentTypeError(f"'{s}': give positive integers, e.g. 64,256")
    return v


def hidden_arg(s: str) -> str:
    if s.strip() and any(not w.strip().isdigit() or int(w) < 1 for w in s.split(",")):
        raise argparse.ArgumentTypeError(f"'{s}' is not a list of layer widths; give e.g. 512,512 (or \"\" for none)")
    return s.strip()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Time gpu-mnist train against the PyTorch twin, alternating runs, and report medians and ratios.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--binary", type=Path, default=REPO / "target" / "release" / "gpu-mnist",
                   help="the gpu-mnist executable")
    p.add_argument("--backend", default="cpu", help="gpu-mnist --backend")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="the twin's --device")
    p.add_argument("--threads", type=int, default=usable_cpus(),
                   help="threads for both: the twin's --threads and gpu-mnist's MATMUL_NUM_THREADS")
    p.add_argument("--batch-sizes", type=csv_ints, default=[64, 256], metavar="B,B,...")
    p.add_argument("--hidden", type=hidden_arg, action="append", metavar="W,W,...",
                   help='hidden widths; repeat the flag for several models [default: 512,512]')
    p.add_argument("--activation", default="relu")
    p.add_argument("--loss", default="xent")
    p.add_argument("--optimizer", default="momentum")
    p.add_argument("--lr", type=float, help="learning rate [default: each program's default for --optimizer]")
    p.add_argument("--epochs", type=int, default=1, help="epochs per run")
    p.add_argument("--skip-epochs", type=int, default=0,
                   help="leave the first K epochs of every run out of the medians (warm-up)")
    p.add_argument("--rounds", type=int, default=3, help="runs of each program per configuration")
    p.add_argument("--limit", type=int, help="train on the first N training samples")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data-dir", type=Path, default=REPO / "assets" / "mnist",
                   help="MNIST folder given to both (gpu-mnist would otherwise use its embedded copy)")
    p.add_argument("--embedded", action="store_true", help="let gpu-mnist use its embedded MNIST instead")
    p.add_argument("--twin-args", default="", help='extra arguments for the twin, e.g. "--compile"')
    p.add_argument("--gpu-mnist-args", default="", help="extra arguments for gpu-mnist train")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs the twin")
    p.add_argument("--json", type=Path, metavar="PATH", help="write every measurement and the summary as JSON")
    p.add_argument("-v", "--verbose", action="store_true", help="echo each child's output")
    args = p.parse_args(argv)
    args.hidden = args.hidden or ["512,512"]
    if args.epochs < 1 or args.rounds < 1 or args.threads < 1:
        p.error("--epochs, --rounds and --threads must be at least 1")
    if not 0 <= args.skip_epochs < args.epochs:
        p.error("--skip-epochs must be below --epochs")
    if not args.binary.exists():
        p.error(f"{args.binary} does not exist; build it with `cargo build --release` (or pass --binary)")
    return args


# ------------------------------------------------------------------------------------------------------- children


def run_child(cmd: list[str], env: dict, log: Path, verbose: bool) -> tuple[int, int, float]:
    """Runs `cmd` with output to `log`; returns (exit code, peak RSS in bytes, wall seconds). The RSS comes from
    the rusage os.wait4 returns for this very child (ru_maxrss, KiB on Linux), not from RUSAGE_CHILDREN deltas."""
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here; keep Popen from waiting on it again
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    if verbose or code != 0:
        text = log.read_text(errors="replace")
        print(("" if code == 0 else f"\n{shlex.join(cmd)} failed with exit code {code}:\n") + text.rstrip(),
              file=sys.stderr if code else sys.stdout)
    return code, rss, wall


def common_flags(args, hidden: str, batch: int) -> list[str]:
    flags = ["--hidden", hidden, "--activation", args.activation, "--loss", args.loss,
             "--optimizer", args.optimizer, "--batch-size", str(batch), "--epochs", str(args.epochs),
             "--seed", str(args.seed)]
    if args.lr is not None:
        flags += ["--lr", repr(args.lr)]
    if args.limit:
        flags += ["--limit", str(args.limit)]
    return flags


def run_gpu_mnist(args, hidden: str, batch: int, tmp: Path, tag: str) -> dict:
    metrics = tmp / f"{tag}.jsonl"
    cmd = [str(args.binary), "train", "--backend", args.backend, *common_flags(args, hidden, batch),
           "--metrics", str(metrics), "--quiet"]
    if not args.embedded:
        cmd += ["--data-dir", str(args.data_dir)]
    cmd += shlex.split(args.gpu_mnist_args)
    env = dict(os.environ, MATMUL_NUM_THREADS=str(args.threads))
    code, rss, wall = run_child(cmd, env, tmp / f"{tag}.log", args.verbose)
    if code != 0:
        sys.exit(f"error: gpu-mnist failed (exit {code}); see the output above")
    epochs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return {"cmd": shlex.join(cmd), "epochs": epochs, "peak_rss_bytes": rss, "wall_seconds": wall}


def run_twin(args, hidden: str, batch: int, tmp: Path, tag: str) -> dict:
    out = tmp / f"{tag}.json"
    cmd = [args.python, str(TWIN), "--device", args.device, "--threads", str(args.threads),
           "--data-dir", str(args.data_dir), *common_flags(args, hidden, batch), "--json", str(out),
           *shlex.split(args.twin_args)]
    code, rss, wall = run_child(cmd, dict(os.environ), tmp / f"{tag}.log", args.verbose)
    if code != 0:
        sys.exit(f"error: the PyTorch twin failed (exit {code}); see the output above")
    doc = json.loads(out.read_text())
    run = {"cmd": shlex.join(cmd), "epochs": doc["epochs"], "peak_rss_bytes": rss, "wall_seconds": wall}
    if "cuda_max_allocated_bytes" in doc:
        run["cuda_max_allocated_bytes"] = doc["cuda_max_allocated_bytes"]
    return run


# -------------------------------------------------------------------------------------------------------- summary


def summarize(runs: list[dict], skip: int) -> dict:
    seconds = [e["seconds"] for r in runs for e in r["epochs"][skip:]]
    summary = {
        "epoch_seconds": seconds,
        "median_epoch_seconds": statistics.median(seconds),
        "min_epoch_seconds": min(seconds),
        "max_epoch_seconds": max(seconds),
        "final_test_acc": statistics.median(r["epochs"][-1]["test_acc"] for r in runs),
        "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
    }
    cuda = [r["cuda_max_allocated_bytes"] for r in runs if "cuda_max_allocated_bytes" in r]
    if cuda:
        summary["cuda_max_allocated_bytes"] = max(cuda)
    return summary


def mib(b: float) -> str:
    return f"{b / 2**20:.0f}"


def print_table(results: list[dict], args) -> None:
    head = ["config", "gpu-mnist s", "torch s", "ratio", "gm acc", "torch acc", "gm MiB", "torch MiB", "mem ratio"]
    rows = []
    for r in results:
        g, t = r["gpu_mnist"], r["torch"]
        rows.append([
            r["config"],
            f"{g['median_epoch_seconds']:.3f}",
            f"{t['median_epoch_seconds']:.3f}",
            f"{r['time_ratio']:.2f}",
            f"{100 * g['final_test_acc']:.2f}%",
            f"{100 * t['final_test_acc']:.2f}%",
            mib(g["peak_rss_bytes"]),
            mib(t["peak_rss_bytes"]) + (f" (+{mib(t['cuda_max_allocated_bytes'])} cuda)"
                                        if "cuda_max_allocated_bytes" in t else ""),
            f"{r['memory_ratio']:.2f}",
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print()
    print(fmt(head))
    print(fmt(["-" * w for w in widths]))
    for row in rows:
        print(fmt(row))
    print()
    print(f"median training seconds per epoch over {args.rounds} round(s) × {args.epochs - args.skip_epochs} "
          f"epoch(s) (evaluation excluded); ratio = gpu-mnist / torch; acc = test accuracy after the last epoch "
          f"(median); MiB = peak RSS of the process (max over rounds); threads {args.threads}")
    if args.backend == "cpu" and args.device == "cpu":
        for r in results:
            notes = []
            target = TIME_TARGETS.get(r["batch_size"])
            if target is not None:
                ok = "met" if r["time_ratio"] <= target else "NOT met"
                notes.append(f"time ratio {r['time_ratio']:.2f} ≤ {target:.1f}: {ok}")
            ok = "met" if r["memory_ratio"] <= MEMORY_TARGET else "NOT met"
            notes.append(f"memory ratio {r['memory_ratio']:.2f} ≤ {MEMORY_TARGET:.2f}: {ok}")
            print(f"targets {r['config']}: " + "; ".join(notes))


def main(argv=None) -> int:
    args = parse_args(argv)
    configs = [(h, b) for h in args.hidden for b in args.batch_sizes]
    results = []
    with tempfile.TemporaryDirectory(prefix="side_by_side.") as tmpdir:
        tmp = Path(tmpdir)
        for hidden, batch in configs:
            name = f"{hidden or 'none'} b{batch}"
            gm_runs, torch_runs = [], []
            for r in range(args.rounds):
                # Alternate which goes first, so drifts of a shared machine hit both sides alike.
                order = ["gpu-mnist", "torch"] if r % 2 == 0 else ["torch", "gpu-mnist"]
                for who in order:
                    tag = f"{who}-{hidden.replace(',', 'x') or 'none'}-b{batch}-r{r}"
                    if who == "gpu-mnist":
                        run = run_gpu_mnist(args, hidden, batch, tmp, tag)
                        gm_runs.append(run)
                    else:
                        run = run_twin(args, hidden, batch, tmp, tag)
                        torch_runs.append(run)
                    secs = ", ".join(f"{e['seconds']:.3f}" for e in run["epochs"])
                    print(f"[{name}] round {r + 1}/{args.rounds} {who:9}  epoch s: {secs}  "
                          f"test acc {100 * run['epochs'][-1]['test_acc']:.2f}%  "
                          f"peak RSS {mib(run['peak_rss_bytes'])} MiB", flush=True)
            g, t = summarize(gm_runs, args.skip_epochs), summarize(torch_runs, args.skip_epochs)
            results.append({
                "config": name,
                "hidden": hidden,
                "batch_size": batch,
                "gpu_mnist": g,
                "torch": t,
                "time_ratio": g["median_epoch_seconds"] / t["median_epoch_seconds"],
                "memory_ratio": g["peak_rss_bytes"] / t["peak_rss_bytes"],
                "runs": {"gpu_mnist": gm_runs, "torch": torch_runs},
            })
        # What `import torch` alone costs, so the framework's share of the twin's peak RSS is visible.
        code, import_rss, _ = run_child([args.python, "-c", "import os, torch; os._exit(0)"], dict(os.environ), tmp / "import.log",
                                        False)
    print_table(results, args)
    if code == 0:
        print(f"baseline: `import torch` alone peaks at {mib(import_rss)} MiB RSS")
    if args.json:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"}
        doc = {"settings": settings, "cpus": usable_cpus(), "results": results,
               "torch_import_peak_rss_bytes": import_rss if code == 0 else None}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
