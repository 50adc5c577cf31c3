#!/usr/bin/env python3
"""How close a healthy run came to the divergence guard's spike thresholds.

Reads a run's metric files from an MLflow file store (log with `train.logEvery=1`, so every
step is a point) and prints, per watched scalar (`loss*`, `grad_norm/*`), the largest robust
z-score (v - median) / (1.4826 MAD) and the largest ratio v / median against the previous
`window` values once `warmup` values were seen: the numbers the `divergence` callback's
defaults (loss: z 12 and 3x; grad_norm: 10x) must stay well above.

    python3 bench/spike_stats.py mlruns <run id> [--window 100] [--warmup 200]
"""
import argparse
import glob
import os
import statistics


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("run")
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=200)
    a = ap.parse_args()
    dirs = glob.glob(os.path.join(a.store, "*", a.run, "metrics"))
    if not dirs:
        raise SystemExit(f"no run {a.run} in {a.store}")
    root = dirs[0]
    for f in sorted(glob.glob(os.path.join(root, "**"), recursive=True)):
        key = os.path.relpath(f, root)
        if not os.path.isfile(f) or not (key.startswith("loss") or key.startswith("grad_norm/")):
            continue
        points = sorted((int(p[2]), float(p[1])) for p in (line.split() for line in open(f)) if len(p) >= 3)
        v = [x for _, x in points]
        z_max = (float("-inf"), 0)
        r_max = (float("-inf"), 0)
        for i in range(a.warmup, len(v)):
            h = v[max(0, i - a.window):i]
            m = statistics.median(h)
            mad = statistics.median(abs(x - m) for x in h)
            s = max(1.4826 * mad, 1e-3 * abs(m), 1e-12)
            z_max = max(z_max, ((v[i] - m) / s, points[i][0]))
            if m > 0:
                r_max = max(r_max, (v[i] / m, points[i][0]))
        print(f"{key:16s} {len(v):6d} points   max robust z {z_max[0]:7.2f} (step {z_max[1]})   max ratio {r_max[0]:6.2f} (step {r_max[1]})")


if __name__ == "__main__":
    main()
