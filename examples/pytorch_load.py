"""Load a gpu-mnist checkpoint into torch.nn.Sequential and evaluate it on the MNIST test set.

    python3 examples/pytorch_load.py model.safetensors [DATA_DIR]

Prints `test loss L acc A% (correct/total)`, the same line `gpu-mnist eval --model model.safetensors` prints.
"""
import gzip
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

path = sys.argv[1]
data_dir = sys.argv[2] if len(sys.argv) > 2 else "assets/mnist"

# The architecture is in the checkpoint's metadata: "784,512,512,10", "relu", "xent".
with safe_open(path, "pt") as f:
    meta = f.metadata()
widths = [int(w) for w in meta["architecture"].split(",")]
slope = float(meta.get("leaky_slope", "0.01"))  # leaky ReLU's; absent from checkpoints older than --leaky-slope
act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky-relu": lambda: nn.LeakyReLU(slope), "gelu": nn.GELU,
       "gelu-tanh": lambda: nn.GELU(approximate="tanh"), "silu": nn.SiLU}[meta["activation"]]
layers = []
for i in range(len(widths) - 1):
    layers.append(nn.Linear(widths[i], widths[i + 1]))
    if i < len(widths) - 2:
        layers.append(act())
if meta["loss"] == "mse":
    layers.append(nn.Sigmoid())  # the quadratic cost is on a sigmoid output layer
model = nn.Sequential(*layers)

# gpu-mnist's `layers.{l}` is the l-th nn.Linear, which sits at index 2*l of the Sequential (the activations are in
# between); the `optimizer.` tensors are the optimizer's state, not the model's.
state = load_file(path)
model.load_state_dict({f"{2 * l}.{k}": state[f"layers.{l}.{k}"] for l in range(len(widths) - 1) for k in ("weight", "bias")})


def idx(name):
    """An IDX file of unsigned bytes as a numpy array."""
    with gzip.open(f"{data_dir}/{name}.gz", "rb") as f:
        raw = f.read()
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(raw[3])]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


x = torch.from_numpy(idx("t10k-images-idx3-ubyte").reshape(-1, widths[0]).astype(np.float32) / 255)  # pixels / 255
y = torch.from_numpy(idx("t10k-labels-idx1-ubyte").astype(np.int64))
with torch.no_grad():
    out = model(x)
    if meta["loss"] == "mse":
        loss = 0.5 * ((out - nn.functional.one_hot(y, widths[-1]).float()) ** 2).sum(1).mean()
    else:
        loss = nn.functional.cross_entropy(out, y)
correct = int((out.argmax(1) == y).sum())
print(f"test loss {loss.item():.4f} acc {100 * correct / len(y):.2f}% ({correct}/{len(y)})")
