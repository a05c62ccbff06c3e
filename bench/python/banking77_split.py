"""Writes the compile benchmark's split so Sigil and DSPy see the same examples.

    banking77_split.py DATA_DIR SEED TRAIN VAL TEST OUT.json

Banking77 restricted to its first 10 intents in sorted order; trainset and valset are
drawn from train.csv and the test set from test.csv, each shuffled with SEED.
The data is read in place (never copied into the repository).
"""
import csv
import json
import os
import random
import sys

INSTRUCTIONS = "Classify the online-banking customer's message into one intent category."


def main():
    data, seed, n_train, n_val, n_test, out = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]

    def rows(name):
        with open(os.path.join(data, name), newline="") as f:
            return [{"text": r["text"], "category": r["category"]} for r in csv.DictReader(f)]

    train_all, test_all = rows("train.csv"), rows("test.csv")
    labels = sorted({r["category"] for r in train_all})[:10]
    pick = lambda rs: [r for r in rs if r["category"] in labels]
    train_rows, test_rows = pick(train_all), pick(test_all)
    random.Random(seed).shuffle(train_rows)
    random.Random(seed).shuffle(test_rows)
    if len(train_rows) < n_train + n_val or len(test_rows) < n_test:
        sys.exit(f"banking77_split: not enough rows for {n_train}+{n_val} train/val and {n_test} test")
    split = {
        "labels": labels,
        "instructions": INSTRUCTIONS,
        "seed": seed,
        "train": train_rows[:n_train],
        "val": train_rows[n_train:n_train + n_val],
        "test": test_rows[:n_test],
    }
    with open(out, "w") as f:
        json.dump(split, f, indent=1)


if __name__ == "__main__":
    main()
