#!/usr/bin/env python3
"""The PyTorch twin of `gpu-mnist train`: the same MLP, initialisation, loss, optimizer, batch size and epoch loop,
written the way one would write it in PyTorch, so the two can be timed against each other.

What matches gpu-mnist (see src/model.rs, src/optim.rs, src/train.rs):
  * model   784 → hidden… → 10, hidden activation relu|sigmoid|tanh|leaky-relu (--leaky-slope)|gelu|gelu-tanh|silu; `--loss xent` = softmax cross-entropy on the
            logits, `--loss mse` = ½‖sigmoid(z) − onehot‖² per sample on a sigmoid output layer; both averaged over
            the batch.
  * init    He normal (std √(2/in)) for layers followed by a ReLU, Glorot uniform (±√(6/(in+out))) otherwise;
            biases 0.
  * optim   torch.optim.SGD (plain, or momentum with dampening 0 and no Nesterov) and torch.optim.Adam, with
            gpu-mnist's default learning rates (sgd 0.1, momentum 0.05, adam 0.001).
  * data    pixels u8 / 255, nothing else; by default the images stay u8 on the device and each batch is gathered
            and converted, like gpu-mnist's gather step (`--data-dtype float32` converts the whole set up front).
  * loop    per epoch: a fresh permutation, every minibatch including the last partial one, then evaluation on the
            whole test set in batches of 1000. `seconds` covers the shuffle and the training steps (the training
            statistics are read back at the end, after a CUDA synchronize), not the evaluation.

Exact equality with gpu-mnist is not expected: the init and shuffle random streams differ (gpu-mnist uses ChaCha8).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "adam": 0.001, "adamw": 0.001, "rmsprop": 0.01}
EVAL_BATCH = 1000  # gpu-mnist's (hidden) --eval-batch default


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------------------------------------- data


def read_idx(path: Path, offset: int) -> np.ndarray:
    """The payload of an IDX file (gzip or plain), skipping its `offset`-byte header."""
    if not path.exists() and path.suffix != ".gz" and path.with_name(path.name + ".gz").exists():
        path = path.with_name(path.name + ".gz")
    elif not path.exists() and path.suffix == ".gz" and path.with_suffix("").exists():
        path = path.with_suffix("")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


def load_mnist(data_dir: Path):
    """(train_images [N,784] u8, train_labels [N] u8, test_images, test_labels) as numpy arrays."""
    def images(name: str) -> np.ndarray:
        return read_idx(data_dir / f"{name}-images-idx3-ubyte.gz", 16).reshape(-1, 28 * 28)

    def labels(name: str) -> np.ndarray:
        return read_idx(data_dir / f"{name}-labels-idx1-ubyte.gz", 8)

    xtr, ytr, xte, yte = images("train"), labels("train"), images("t10k"), labels("t10k")
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        sys.exit(f"error: {data_dir}: image and label counts differ")
    return xtr, ytr, xte, yte


# ---------------------------------------------------------------------------------------------------------- model


# Each hidden activation, given leaky ReLU's slope (--leaky-slope, PyTorch's negative_slope).
ACTIVATIONS = {
    "relu": lambda slope: nn.ReLU(),
    "sigmoid": lambda slope: nn.Sigmoid(),
    "tanh": lambda slope: nn.Tanh(),
    "leaky-relu": lambda slope: nn.LeakyReLU(slope),
    "gelu": lambda slope: nn.GELU(),
    "gelu-tanh": lambda slope: nn.GELU(approximate="tanh"),
    "silu": lambda slope: nn.SiLU(),
}


def build_model(widths: list[int], activation: str, loss: str, generator: torch.Generator,
                leaky_slope: float = 0.01, dropout: float = 0.0, input_dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with `activation` between them; the output layer is left linear (both losses take logits).
    Initialised on the CPU from `generator`, the way gpu-mnist's Params::init does it."""
    layers: list[nn.Module] = []
    if input_dropout > 0.0:
        layers.append(nn.Dropout(input_dropout))  # gpu-mnist: --input-dropout, before the first layer
    n = len(widths) - 1
    for l in range(n):
        fan_in, fan_out = widths[l], widths[l + 1]
        lin = nn.Linear(fan_in, fan_out)
        last = l == n - 1
        followed_by_relu = (not last) and activation in ("relu", "leaky-relu", "gelu", "gelu-tanh", "silu")  # the mse output layer is sigmoid, xent's identity
        with torch.no_grad():
            if followed_by_relu:
                lin.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
            else:
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                lin.weight.uniform_(-bound, bound, generator=generator)
            lin.bias.zero_()
        layers.append(lin)
        if not last:
            layers.append(ACTIVATIONS[activation](leaky_slope))
            if dropout > 0.0:
                layers.append(nn.Dropout(dropout))  # gpu-mnist: --dropout, after every hidden activation
    return nn.Sequential(*layers)


def loss_fn(kind: str, logits: torch.Tensor, y: torch.Tensor, classes: int) -> torch.Tensor:
    """The batch-mean loss gpu-mnist trains on."""
    if kind == "xent":
        return F.cross_entropy(logits, y)
    # ½‖σ(z) − onehot‖² per sample, mean over the batch
    a = torch.sigmoid(logits)
    return 0.5 * (a - F.one_hot(y, classes).to(a.dtype)).square().sum(dim=1).mean()


def make_optimizer(args, params):
    wd = args.weight_decay if args.weight_decay is not None else (0.01 if args.optimizer == "adamw" else 0.0)
    if args.optimizer == "sgd":
        return torch.optim.SGD(params, lr=args.lr, weight_decay=wd)
    if args.optimizer == "momentum":
        return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum, dampening=0.0, nesterov=False,
                               weight_decay=wd)
    if args.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=args.lr, alpha=args.alpha, eps=args.eps, weight_decay=wd,
                                   momentum=args.rmsprop_momentum, centered=args.centered)
    adam = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
    return adam(params, lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps, weight_decay=wd)


def f32(x: float) -> str:
    """A number the way gpu-mnist (Rust's f32 Display) prints it: shortest round-trip, never an exponent."""
    return np.format_float_positional(np.float32(x), trim="-")


def make_scheduler(args, optimizer, total_steps: int):
    """gpu-mnist's --lr-schedule: linear decay to 0 over the run (step t of T uses lr·(1 − (t − 1)/T)), stepped per
    batch; None for a constant rate."""
    if args.lr_schedule == "constant":
        return None
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: max(0.0, 1.0 - k / total_steps))


def sci(x: float) -> str:
    """A number the way Rust's `{:e}` prints an f32: 1e-8, 2.5e-7."""
    m, e = f"{np.float32(x):e}".split("e")
    return f"{m.rstrip('0').rstrip('.')}e{int(e)}"


def describe_optimizer(args) -> str:
    """gpu-mnist's `optim:` summary (Optimizer::describe: values that switch something off are left out)."""
    wd = args.weight_decay if args.weight_decay is not None else (0.01 if args.optimizer == "adamw" else 0.0)
    tail = f" weight_decay={f32(wd)}" if wd else ""
    if args.optimizer == "sgd":
        return f"sgd lr={f32(args.lr)}{tail}"
    if args.optimizer == "momentum":
        return f"momentum lr={f32(args.lr)} momentum={f32(args.momentum)}{tail}"
    if args.optimizer == "rmsprop":
        extra = f" momentum={f32(args.rmsprop_momentum)}" if args.rmsprop_momentum else ""
        extra += " centered" if args.centered else ""
        return f"rmsprop lr={f32(args.lr)} alpha={f32(args.alpha)} eps={sci(args.eps)}{tail}{extra}"
    return f"{args.optimizer} lr={f32(args.lr)} betas=({f32(args.beta1)}, {f32(args.beta2)}) eps={sci(args.eps)}{tail}"


# ----------------------------------------------------------------------------------------------------------- loop


class Twin:
    def __init__(self, args, device: torch.device, xtr, ytr, xte, yte):
        self.args = args
        self.device = device
        self.classes = 10
        # Data on the device: u8 like gpu-mnist (converted per batch), or f32 converted once.
        def put(x: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(x.copy()).to(device)
            return t.float().div_(255.0) if args.data_dtype == "float32" else t

        self.xtr, self.xte = put(xtr), put(xte)
        self.ytr = torch.from_numpy(ytr.astype(np.int64)).to(device)
        self.yte = torch.from_numpy(yte.astype(np.int64)).to(device)
        self.widths = [xtr.shape[1], *args.hidden, self.classes]
        self.model = build_model(self.widths, args.activation, args.loss, torch.Generator().manual_seed(args.seed),
                                 args.leaky_slope, args.dropout, args.input_dropout)
        self.model.to(device)
        self.optimizer = make_optimizer(args, self.model.parameters())
        b = min(args.batch_size, len(self.ytr))
        self.total_steps = args.epochs * -(-len(self.ytr) // b)
        self.scheduler = make_scheduler(args, self.optimizer, self.total_steps)
        self.forward = torch.compile(self.model) if args.compile else self.model
        self.epoch = 0

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255.0) if x.dtype == torch.uint8 else x

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def step(self, idx: torch.Tensor, loss_sum: torch.Tensor, correct: torch.Tensor):
        x = self.pixels(self.xtr[idx])
        y = self.ytr[idx]
        logits = self.forward(x)
        loss = loss_fn(self.args.loss, logits, y, self.classes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        # Running statistics stay on the device (no per-step sync), like gpu-mnist's.
        with torch.no_grad():
            loss_sum.add_(loss.detach() * len(idx))
            correct.add_((logits.detach().argmax(dim=1) == y).sum())

    def warm_up(self, steps: int):
        """Runs `steps` training steps (and one of the partial last batch's size, if there is one), then puts the initial weights and a fresh optimizer back (like
        `gpu-mnist bench --warmup-steps`), so the measured run is the same as without the warm-up."""
        n, b = len(self.ytr), min(self.args.batch_size, len(self.ytr))
        steps = min(steps, n // b)
        if steps == 0:
            return
        initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        scratch = torch.zeros((), device=self.device), torch.zeros((), dtype=torch.int64, device=self.device)
        order = torch.arange(n, device=self.device)
        for s in range(steps):
            self.step(order[s * b:(s + 1) * b], *scratch)
        if n % b:  # the last, partial batch has its own shape (torch.compile recompiles for it)
            self.step(order[:n % b], *scratch)
        self.sync()
        self.model.load_state_dict(initial)
        self.optimizer = make_optimizer(self.args, self.model.parameters())
        self.scheduler = make_scheduler(self.args, self.optimizer, self.total_steps)

    def train_epoch(self) -> dict:
        n = len(self.ytr)
        b = min(self.args.batch_size, n)
        self.sync()
        start = time.perf_counter()
        # This epoch's order: its own seeded stream (gpu-mnist uses stream epoch+1 of the seed).
        g = torch.Generator().manual_seed(self.args.seed * 1_000_003 + self.epoch + 1)
        order = torch.randperm(n, generator=g).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self.model.train()
        for s in range(0, n, b):  # includes the last, partial batch
            self.step(order[s:s + b], loss_sum, correct)
        train_loss, train_correct = loss_sum.item(), correct.item()  # reading them back synchronizes
        self.sync()
        seconds = time.perf_counter() - start
        if not math.isfinite(train_loss):
            sys.exit(f"error: training diverged in epoch {self.epoch + 1} (loss {train_loss}); try a smaller --lr")
        test_loss, test_acc = self.evaluate()
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "train_loss": train_loss / n,
            "train_acc": train_correct / n,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "seconds": seconds,
            "samples_per_sec": n / max(seconds, 1e-9),
        }

    @torch.no_grad()
    def evaluate(self) -> tuple[float, float]:
        self.model.eval()
        n = len(self.yte)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        for s in range(0, n, EVAL_BATCH):
            x, y = self.pixels(self.xte[s:s + EVAL_BATCH]), self.yte[s:s + EVAL_BATCH]
            logits = self.forward(x)
            loss_sum += loss_fn(self.args.loss, logits, y, self.classes) * len(y)
            correct += (logits.argmax(dim=1) == y).sum()
        return loss_sum.item() / n, correct.item() / n


# ------------------------------------------------------------------------------------------------------------ cli


def parse_hidden(s: str) -> list[int]:
    if not s.strip():
        return []
    try:
        widths = [int(w) for w in s.split(",")]
    except ValueError:
        widths = [0]
    if any(w <= 0 for w in widths):
        raise argparse.ArgumentTypeError(f"'{s}' is not a list of layer widths; give e.g. 512,512 (or \"\" for none)")
    return widths


def positive_int(s: str) -> int:
    v = int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s}: must be at least 1")
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Train gpu-mnist's MLP with PyTorch and print gpu-mnist's epoch lines (the benchmark twin).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=positive_int, default=usable_cpus(), help="torch.set_num_threads")
    p.add_argument("--data-dir", type=Path, default=REPO / "assets" / "mnist",
                   help="folder with the four MNIST IDX files (.gz or not)")
    p.add_argument("--limit", type=positive_int, help="train on the first N training samples (the test set stays whole)")
    p.add_argument("--hidden", type=parse_hidden, default=[512, 512], metavar="W,W,...",
                   help='hidden layer widths; "" for none')
    p.add_argument("--activation", choices=list(ACTIVATIONS), default="relu")
    p.add_argument("--leaky-slope", type=float, default=0.01, help="leaky ReLU's slope below 0 (negative_slope)")
    p.add_argument("--loss", choices=["xent", "mse"], default="xent")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "adam", "adamw", "rmsprop"], default="momentum")
    p.add_argument("--lr", type=float, help="learning rate [default: sgd 0.1, momentum 0.05, adam 0.001]")
    p.add_argument("--lr-schedule", choices=["linear", "constant"], default="linear",
                   help="linear decay to 0 over the run (per step), or constant, as gpu-mnist's --lr-schedule")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--alpha", type=float, default=0.99, help="RMSprop's smoothing constant")
    p.add_argument("--centered", action="store_true", help="RMSprop centered")
    p.add_argument("--rmsprop-momentum", type=float, default=0.0, help="RMSprop's momentum (--momentum is SGD's)")
    p.add_argument("--weight-decay", type=float, help="weight_decay [default: adamw 0.01, else 0]")
    p.add_argument("--dropout", type=float, default=0.0, help="nn.Dropout(p) after every hidden activation")
    p.add_argument("--input-dropout", type=float, default=0.0, help="nn.Dropout(p) before the first nn.Linear")
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--data-dtype", choices=["uint8", "float32"], default="uint8",
                   help="how the images sit on the device: u8 converted per batch (as gpu-mnist), or f32 up front")
    p.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    p.add_argument("--warmup-steps", type=int, default=0,
                   help="training steps run and undone before the first epoch (gpu-mnist train does none)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the config, per-epoch records and peak memory")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr {args.lr} must be a positive number")
    if not 0 <= args.momentum < 1:
        p.error(f"--momentum {args.momentum} must be in [0, 1)")
    if not (0 <= args.beta1 < 1 and 0 <= args.beta2 < 1) or not args.eps > 0:
        p.error("--beta1 and --beta2 must be in [0, 1) and --eps positive")
    if args.warmup_steps < 0:
        p.error("--warmup-steps must be 0 or more")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available here (use --device cpu)")
    return args


def epoch_line(m: dict, epochs: int) -> str:
    """gpu-mnist's epoch line, character for character."""
    return (f"epoch {m['epoch']}/{epochs}  train loss {m['train_loss']:.4f} acc {100 * m['train_acc']:.2f}%  "
            f"test loss {m['test_loss']:.4f} acc {100 * m['test_acc']:.2f}%  {m['seconds']:.2f} s  "
            f"{m['samples_per_sec']:.0f} samples/s")


def peak_rss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if platform.system() == "Darwin" else r * 1024  # Linux reports KiB, macOS bytes


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    xtr, ytr, xte, yte = load_mnist(args.data_dir)
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    twin = Twin(args, device, xtr, ytr, xte, yte)

    if device.type == "cuda":
        hw = f"cuda: {torch.cuda.get_device_name(device)}"
    else:
        hw = f"cpu ({args.threads} threads of {usable_cpus()})"
    params = sum(p.numel() for p in twin.model.parameters())
    print(f"backend: torch {torch.__version__} {hw}, {'torch.compile' if args.compile else 'eager'}, "
          f"data {args.data_dtype} on device")
    print(f"model:   {'-'.join(map(str, twin.widths))} {args.activation} {args.loss} ({params} parameters)")
    print(f"optim:   {describe_optimizer(args)}, batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}")
    print(f"data:    mnist: {len(ytr)} train, {len(yte)} test samples", flush=True)

    if args.warmup_steps > 0:
        twin.warm_up(args.warmup_steps)
    records = []
    for _ in range(args.epochs):
        m = twin.train_epoch()
        records.append(m)
        print(epoch_line(m, args.epochs), flush=True)

    peak = {"peak_rss_bytes": peak_rss_bytes()}
    line = f"peak RSS {peak['peak_rss_bytes'] / 2**20:.1f} MiB"
    if device.type == "cuda":
        peak["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
        peak["cuda_max_reserved_bytes"] = torch.cuda.max_memory_reserved(device)
        line += (f", CUDA max allocated {peak['cuda_max_allocated_bytes'] / 2**20:.1f} MiB"
                 f" (reserved {peak['cuda_max_reserved_bytes'] / 2**20:.1f} MiB)")
    print(line)

    if args.json:
        config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "json"}
        doc = {
            "tool": "pytorch_twin",
            "torch": torch.__version__,
            "device_name": hw,
            "config": config,
            "epochs": records,
            **peak,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    code = main()
    # Skip the interpreter's teardown: unloading torch raises the process's RSS by ~120 MiB *after* the work is
    # done (seen with torch 2.15), which would then be what side_by_side.py's os.wait4 reports as the peak.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
