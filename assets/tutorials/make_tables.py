#!/usr/bin/env python3
"""Writes the two small tables of README's "From the tutorials" and measures scikit-learn's Perceptron beside them.

- classification_train.csv / classification_test.csv: the Keras tutorial's set, scikit-learn's own
  make_classification(n_samples=1000, n_features=10, n_classes=2, random_state=42), split by
  train_test_split(random_state=42) (750 / 250 rows): columns f1..f10, then label (0 or 1).
- toy_gender.csv: the from-scratch tutorial's four rows, weight and height shifted by constants, gender 0/1
  (Ani, Blud, orry, Diana in that order).

    pip install scikit-learn
    python3 assets/tutorials/make_tables.py

It prints the accuracy of Perceptron(max_iter=1000, eta0=0.1, tol=1e-3, shuffle=True, random_state=42) on the test
rows, the number gpu-mnist's --model perceptron is compared with.
"""
import csv
import os

import sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import Perceptron
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, header, rows):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main():
    x, y = make_classification(n_samples=1000, n_features=10, n_classes=2, random_state=42)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=42)
    header = [f"f{i + 1}" for i in range(10)] + ["label"]
    # repr of a float64 is the shortest text that reads back to the same value.
    for name, xs, ys in [("classification_train.csv", x_train, y_train), ("classification_test.csv", x_test, y_test)]:
        write(name, header, [[repr(float(v)) for v in row] + [int(label)] for row, label in zip(xs, ys)])
    write("toy_gender.csv", ["weight", "height", "gender"],
          [[18.71, 4, 0], [9.71, -1, 1], [2.71, -6, 0], [12.71, 6, 1]])
    p = Perceptron(max_iter=1000, eta0=0.1, tol=1e-3, shuffle=True, random_state=42).fit(x_train, y_train)
    print(f"scikit-learn {sklearn.__version__}: Perceptron test accuracy {p.score(x_test, y_test) * 100:.2f}% "
          f"({len(y_train)} train, {len(y_test)} test rows; {p.n_iter_} epochs)")


if __name__ == "__main__":
    main()
