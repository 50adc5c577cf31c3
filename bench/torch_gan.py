#!/usr/bin/env python3
"""PyTorch reference for `pnpm bench`: the same networks, loss and update order as genlab's
gan/mlp (seed config: batch norm in G) and gan/dcgan, timed on random data in [-1, 1].

One step = one discriminator update on a real and a generated batch (generator forward
without gradient), then one generator update through the discriminator: the same number of
forward and backward passes as genlab's LayersGan step.

Usage: python3 torch_gan.py --model mlp|dcgan --steps N --batch 64 --threads 1
Prints one JSON line: {"model": ..., "img_per_sec": ..., "threads": ...}.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


def mlp_gan(latent=100):
    g = nn.Sequential(
        nn.Linear(latent, 256), nn.BatchNorm1d(256, momentum=0.1, eps=1e-3), nn.ReLU(),
        nn.Linear(256, 512), nn.BatchNorm1d(512, momentum=0.1, eps=1e-3), nn.ReLU(),
        nn.Linear(512, 1024), nn.BatchNorm1d(1024, momentum=0.1, eps=1e-3), nn.ReLU(),
        nn.Linear(1024, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    d = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2),
        nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d


def dcgan(latent=100):
    # 'same' padding with stride 2 and kernel 5: padding 2, output_padding 1 for the transposes.
    g = nn.Sequential(
        nn.Linear(latent, 7 * 7 * 128, bias=False), nn.BatchNorm1d(7 * 7 * 128, momentum=0.1, eps=1e-3), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
        nn.BatchNorm2d(64, momentum=0.1, eps=1e-3), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 5, stride=2, padding=2, output_padding=1), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(1, 64, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
    return g, d


def make_step(g, d, og, od, real, rows):
    """One GAN step on `rows` examples (D update, then G through D); torch_ddp.py shares it."""
    def step():
        z = torch.randn(rows, 100)
        with torch.no_grad():
            fake = g(z)
        od.zero_grad(set_to_none=True)
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        loss_d.backward()
        od.step()
        og.zero_grad(set_to_none=True)
        loss_g = F.softplus(-d(g(torch.randn(rows, 100)))).mean()
        loss_g.backward()
        og.step()
        return float(loss_d) + float(loss_g)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=['mlp', 'dcgan'], required=True)
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--warmup', type=int, default=5)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--profile', action='store_true', help='print a per-op profile instead (torch_profile.py)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    g, d = (mlp_gan if a.model == 'mlp' else dcgan)()
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(a.batch, 1, 28, 28) * 2 - 1
    step = make_step(g, d, og, od, real, a.batch)

    for _ in range(a.warmup):
        step()
    if a.profile:
        from torch_profile import profile
        profile(step, a.steps, a.model)
        return
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - t0
    print(json.dumps({'model': a.model, 'img_per_sec': a.steps * a.batch / secs, 'threads': torch.get_num_threads(),
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
