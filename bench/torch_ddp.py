#!/usr/bin/env python3
"""PyTorch DistributedDataParallel twin for `pnpm bench`'s whole-machine rows: the networks,
loss and update order of torch_gan.py / torch_rnn.py, trained by N processes on one machine
over gloo (loopback), each with one thread and batch / N rows of every batch, gradients
averaged by DDP in backward. Batch norm is per process (no SyncBatchNorm), as in genlab's
`train.devices`.

Usage: python3 torch_ddp.py --model mlp|dcgan|rnn --steps N --batch 64 --procs 2
Prints one JSON line from rank 0: {"model": ..., "img_per_sec": ..., "procs": ...}, where
img/s counts the whole batch (every process's rows) per step.
"""
import argparse
import json
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def worker(rank, a, port, out):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group('gloo', rank=rank, world_size=a.procs)
    torch.manual_seed(1)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    rows = a.batch // a.procs
    # The twins' own steps, on DDP-wrapped networks and this rank's rows.
    if a.model == 'rnn':
        from torch_rnn import RowLSTM, make_step
        net = DDP(RowLSTM())
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        step = make_step(net, opt, (torch.rand(rows, 1, 28, 28) < 0.5).float())
    else:
        from torch_gan import dcgan, make_step, mlp_gan
        g, d = (mlp_gan if a.model == 'mlp' else dcgan)()
        g, d = DDP(g), DDP(d)
        og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        step = make_step(g, d, og, od, torch.rand(rows, 1, 28, 28) * 2 - 1, rows)

    torch.manual_seed(1 + rank)  # each rank its own noise
    for _ in range(a.warmup):
        step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dist.barrier()
    secs = time.perf_counter() - t0
    if rank == 0:
        out.put(a.steps * rows * a.procs / secs)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=['mlp', 'dcgan', 'rnn'], required=True)
    ap.add_argument('--steps', type=int, default=50)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--procs', type=int, default=2)
    a = ap.parse_args()
    ctx = mp.get_context('spawn')
    out = ctx.SimpleQueue()
    mp.start_processes(worker, args=(a, free_port(), out), nprocs=a.procs, start_method='spawn')
    print(json.dumps({'model': a.model, 'img_per_sec': out.get(), 'procs': a.procs, 'threads': 1, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
