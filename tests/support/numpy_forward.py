"""The twin of examples/pytorch_load.py with numpy alone (CI has no PyTorch): reads a gpu-mnist checkpoint with the
`safetensors` package, runs the forward pass on the MNIST test set and prints the line `gpu-mnist eval` prints.

    python3 tests/support/numpy_forward.py model.safetensors [DATA_DIR]
"""
import gzip
import math
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

path = sys.argv[1]
data_dir = sys.argv[2] if len(sys.argv) > 2 else "assets/mnist"
with safe_open(path, "np") as f:
    meta = f.metadata()
widths = [int(w) for w in meta["architecture"].split(",")]
state = load_file(path)
slope = float(meta.get("leaky_slope", "0.01"))  # leaky ReLU's; absent from checkpoints older than --leaky-slope
act = {
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "leaky-relu": lambda z: np.where(z > 0, z, slope * z),
    "gelu": lambda z: 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2))),
    "gelu-tanh": lambda z: 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
    "silu": lambda z: z / (1 + np.exp(-z)),
}[meta["activation"]]


def idx(name):
    with gzip.open(f"{data_dir}/{name}.gz", "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


a = idx("t10k-images-idx3-ubyte").reshape(-1, widths[0]).astype(np.float64) / 255
y = idx("t10k-labels-idx1-ubyte").astype(np.int64)
layers = len(widths) - 1
for l in range(layers):
    z = a @ state[f"layers.{l}.weight"].astype(np.float64).T + state[f"layers.{l}.bias"]
    a = act(z) if l < layers - 1 else z
if meta["loss"] == "mse":
    out = 1 / (1 + np.exp(-a))
    loss = 0.5 * ((out - np.eye(widths[-1])[y]) ** 2).sum(1).mean()
else:
    out = a
    shifted = a - a.max(1, keepdims=True)
    loss = -(shifted[np.arange(len(y)), y] - np.log(np.exp(shifted).sum(1))).mean()
correct = int((out.argmax(1) == y).sum())
print(f"test loss {loss:.4f} acc {100 * correct / len(y):.2f}% ({correct}/{len(y)})")
