#!/usr/bin/env python3
"""PyTorch reference for the FID timing of `pnpm bench`: the same feature network as
genlab's (conv3x3(32) -> pool -> conv3x3(64) -> pool -> dense(128) -> dense(10)), features
of N generated-like and N real-like 28x28 images (random, in [0, 1]), then the Frechet
distance through symmetric eigen-decompositions (torch.linalg.eigh in float64), as genlab.

Usage: python3 torch_fid.py --n 10000 --threads 2
Prints one JSON line: {"seconds": ..., "fid": ..., "threads": ...}.
"""
import argparse
import json
import time

import torch
from torch import nn


def feature_net():
    body = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 128), nn.ReLU())
    return body.eval()


def mean_cov(f):
    f = f.double()
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (f.shape[0] - 1)


def sqrtm_psd(a):
    w, v = torch.linalg.eigh(a)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def fid(f1, f2):
    m1, c1 = mean_cov(f1)
    m2, c2 = mean_cov(f2)
    s1 = sqrtm_psd(c1)
    inner = s1 @ c2 @ s1
    w = torch.linalg.eigvalsh((inner + inner.T) / 2)
    return float(((m1 - m2) ** 2).sum() + c1.trace() + c2.trace() - 2 * w.clamp(min=0).sqrt().sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=10000)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = feature_net()
    real = torch.rand(args.n, 1, 28, 28)
    fake = torch.rand(args.n, 1, 28, 28)
    t0 = time.perf_counter()
    with torch.no_grad():
        fr = torch.cat([net(real[i:i + 500]) for i in range(0, args.n, 500)])
        ff = torch.cat([net(fake[i:i + 500]) for i in range(0, args.n, 500)])
    value = fid(fr, ff)
    secs = time.perf_counter() - t0
    print(json.dumps({'seconds': secs, 'fid': value, 'threads': args.threads}))


if __name__ == '__main__':
    main()
