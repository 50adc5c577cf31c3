"""Shared by torch_gan.py and torch_rnn.py: `--profile` runs the steps under
torch.autograd.profiler and prints one JSON line, the per-step time of each op (self CPU
time, so the rows add up to the step), its calls and its floating-point work where PyTorch
counts it (matmuls, convolutions), in the shape `pnpm bench --profile` prints beside genlab's."""
import json
import time

import torch


def profile(step, steps, model):
    with torch.autograd.profiler.profile(with_flops=True) as prof:
        for _ in range(steps):
            step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    step_ms = (time.perf_counter() - t0) * 1000 / steps
    rows = []
    for e in prof.key_averages():
        if e.self_cpu_time_total <= 0:
            continue
        row = {'name': e.key, 'count': e.count / steps, 'ms': e.self_cpu_time_total / 1000 / steps}
        if getattr(e, 'flops', 0):
            row['flops'] = e.flops / steps
        rows.append(row)
    rows.sort(key=lambda r: -r['ms'])
    print(json.dumps({'model': model, 'step_ms': step_ms, 'rows': rows, 'torch': torch.__version__, 'threads': torch.get_num_threads()}))
