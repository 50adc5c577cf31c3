#!/usr/bin/env python3
"""PyTorch reference for `pnpm bench --models rnn`: the same Row LSTM as genlab's
rnn/row-lstm with its defaults (2 LSTM layers of 32, masked input-to-state width 3, head
ReLU → 1×1 (32) → ReLU → 1×1), the same row-by-row loop and the same step (teacher-forced
Bernoulli NLL per image, Adam lr 1e-3), timed on random binary 28×28 images.

Per row i and layer l (tensors [B, C, W], channels first):
  a = K_is ⊛ input[i] (mask A on the pixels: columns j-3 … j-1; mask B above: j-2 … j)
      + K_up ⊛ x[i-1] (layer 0 only) + K_ss ⊛ h[i-1]
  i, f, o, g = chunks of a;  c = σ(f)·c' + σ(i)·tanh(g);  h = σ(o)·tanh(c)
  layer output = h (+ the layer's input for l ≥ 1)

Usage: python3 torch_rnn.py --steps N --batch 64 --threads 1
Prints one JSON line: {"model": "rnn", "img_per_sec": ..., "threads": ...}.
"""
import argparse
import json
import time

import torch
from torch import nn
import torch.nn.functional as F


class RowLSTM(nn.Module):
    def __init__(self, height=28, width=28, hidden=32, layers=2, k=3, out_hidden=32):
        super().__init__()
        self.h, self.w, self.hidden, self.layers, self.k = height, width, hidden, layers, k
        g = 4 * hidden
        self.is_conv = nn.ModuleList([nn.Conv1d(1 if l == 0 else hidden, g, k) for l in range(layers)])
        self.up = nn.Conv1d(1, g, 3, padding=1, bias=False)
        self.ss = nn.ModuleList([nn.Conv1d(hidden, g, 3, padding=1, bias=False) for _ in range(layers)])
        self.head1 = nn.Conv1d(hidden, out_hidden, 1)
        self.head2 = nn.Conv1d(out_hidden, 1, 1)

    def forward(self, x):  # x [B, 1, H, W] in {0, 1} -> logits [B, H, W]
        b, k = x.shape[0], self.k
        shifted = F.pad(x, (k, 0))[..., : self.w + k - 1]  # mask A by a shift
        h = [x.new_zeros(b, self.hidden, self.w) for _ in range(self.layers)]
        c = [x.new_zeros(b, self.hidden, self.w) for _ in range(self.layers)]
        rows = []
        for i in range(self.h):
            inp = None
            for l in range(self.layers):
                if l == 0:
                    a = self.is_conv[0](shifted[:, :, i])
                    if i > 0:
                        a = a + self.up(x[:, :, i - 1])
                else:
                    a = self.is_conv[l](F.pad(inp, (k - 1, 0)))
                if i > 0:
                    a = a + self.ss[l](h[l])
                gi, gf, go, gg = a.chunk(4, 1)
                c[l] = torch.sigmoid(gf) * c[l] + torch.sigmoid(gi) * torch.tanh(gg)
                h[l] = torch.sigmoid(go) * torch.tanh(c[l])
                inp = h[l] if l == 0 else h[l] + inp
            rows.append(self.head2(F.relu(self.head1(F.relu(inp))))[:, 0])
        return torch.stack(rows, 1)


def make_step(net, opt, x):
    """One training step (Bernoulli NLL per image, mean over the batch); torch_ddp.py shares it."""
    def step():
        opt.zero_grad(set_to_none=True)
        z = net(x)
        loss = (F.softplus(z) - x[:, 0] * z).sum((1, 2)).mean()
        loss.backward()
        opt.step()
        return float(loss)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--profile', action='store_true', help='print a per-op profile instead (torch_profile.py)')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = RowLSTM()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = (torch.rand(a.batch, 1, 28, 28) < 0.5).float()
    step = make_step(net, opt, x)

    for _ in range(a.warmup):
        step()
    if a.profile:
        from torch_profile import profile
        profile(step, a.steps, 'rnn')
        return
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    secs = time.perf_counter() - t0
    print(json.dumps({'model': 'rnn', 'img_per_sec': a.steps * a.batch / secs, 'threads': torch.get_num_threads(),
                      'torch': torch.__version__}))


if __name__ == '__main__':
    main()
