#!/usr/bin/env python3
"""Keras's own MNIST MLP example (keras-team/keras examples/mnist_mlp.py: "Gets to 98.40% test accuracy after 20
epochs"), run on this machine for the seeds gpu-mnist's recipe uses, so the anchor is measured side by side.

    784-512-512-10, ReLU, Dropout(0.2) after each hidden layer, softmax; RMSprop() (lr 0.001, rho 0.9, epsilon 1e-7),
    Glorot-uniform weights and zero biases (Dense's defaults), categorical cross-entropy, batch 128, 20 epochs.

Data: the MNIST files embedded in gpu-mnist (assets/mnist), pixels / 255, as the example does. Any Keras 3 backend:
    pip install keras "jax[cpu]"
    KERAS_BACKEND=jax python3 benches/keras_mnist_mlp.py --seeds 1 2 3
Prints one line per seed with the final test accuracy, then the median. Keras 3's RMSprop puts epsilon inside the
square root (sqrt(v + eps)); Keras 2.0's, when the 98.40% was published, outside (sqrt(v) + eps), as PyTorch and
gpu-mnist do: --eps-outside trains with that update instead, everything else Keras's.
"""
import argparse
import gzip
import os
import statistics
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "mnist")


def idx(name):
    with gzip.open(os.path.join(ROOT, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


class EpsOutsideRMSprop(keras.optimizers.RMSprop):
    """Keras's RMSprop (rho 0.9, epsilon 1e-7, no momentum) with epsilon added after the square root, as PyTorch's."""

    def update_step(self, gradient, variable, learning_rate):
        ops = keras.ops
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, ops.add(ops.multiply(self.rho, velocity), ops.multiply(1 - self.rho, ops.square(gradient))))
        self.assign_sub(variable, ops.divide(ops.multiply(lr, gradient), ops.add(ops.sqrt(velocity), self.epsilon)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--eps-outside", action="store_true", help="RMSprop's update as PyTorch's: lr·g / (sqrt(v) + eps)")
    args = ap.parse_args()
    x_train = idx("train-images-idx3-ubyte.gz").reshape(60000, 784).astype("float32") / 255
    x_test = idx("t10k-images-idx3-ubyte.gz").reshape(10000, 784).astype("float32") / 255
    y_train = keras.utils.to_categorical(idx("train-labels-idx1-ubyte.gz"), 10)
    y_test = keras.utils.to_categorical(idx("t10k-labels-idx1-ubyte.gz"), 10)
    accs = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([
            keras.Input((784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ])
        optimizer = EpsOutsideRMSprop() if args.eps_outside else keras.optimizers.RMSprop()
        model.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, verbose=0)
        seconds = (time.perf_counter() - start) / args.epochs
        loss, acc = model.evaluate(x_test, y_test, verbose=0)
        accs.append(acc)
        form = "eps outside sqrt" if args.eps_outside else "eps inside sqrt"
        print(f"keras {keras.__version__} ({keras.backend.backend()}, {form}) seed {seed}: test accuracy {acc * 100:.2f}%, "
              f"test loss {loss:.4f}, {seconds:.1f} s/epoch", flush=True)
    print(f"median over seeds {args.seeds}: {statistics.median(accs) * 100:.2f}%")


if __name__ == "__main__":
    main()
