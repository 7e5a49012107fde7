"""A stand-alone program (numpy only, no SimShift import) scored by the benchmark.

The benchmark runs it once per phase (see benchmark/methods/external.py):

* ``--phase fit``: reads <data>/train.npz (with labels), keeps the class centroids in <state>;
* ``--phase predict``: reads <data>/events.npz (unlabelled inputs) and writes <out>/scores.npz with
  event_id and scores.

Any language that reads and writes .npz (NumPy's zip of .npy files) works.
"""
import argparse
from pathlib import Path

import numpy as np


def features(z):
    sizes = np.diff(z["offsets"])
    values = z["charge"] if "charge" in z else np.hypot(z["p4"][:, 1], z["p4"][:, 2])
    total = np.add.reduceat(values, z["offsets"][:-1]) if len(values) else np.zeros(len(sizes))
    total[sizes == 0] = 0
    return np.stack([np.log1p(sizes), np.log1p(np.maximum(total, 0))], axis=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--phase", required=True, choices=["fit", "predict"])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--classes", type=int, required=True)
    args = ap.parse_args()
    data, out, state = Path(args.data), Path(args.out), Path(args.state)
    if args.phase == "fit":
        with np.load(data / "train.npz") as z:
            x, y = features(z), z["labels"]
        mu, sd = x.mean(0), x.std(0) + 1e-9
        centroids = np.stack([((x[y == k] - mu) / sd).mean(0) if np.any(y == k) else np.full(x.shape[1], 1e9)
                              for k in range(args.classes)])
        np.savez(state / "model.npz", mu=mu, sd=sd, centroids=centroids)
        return
    with np.load(state / "model.npz") as m, np.load(data / "events.npz") as z:
        f = (features(z) - m["mu"]) / m["sd"]
        scores = -((f[:, None, :] - m["centroids"][None]) ** 2).sum(-1)
        np.savez(out / "scores.npz", event_id=z["event_id"], scores=scores)


if __name__ == "__main__":
    main()
