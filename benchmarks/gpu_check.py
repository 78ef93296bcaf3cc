"""The timing half of benchmarks/gpu_check.sh: GEMM TFLOPS (ours vs torch.matmul) and an
mnist784-shaped fit (fastmlp on the GPU vs a PyTorch loop on the same GPU vs fastmlp on
the CPU). Timings use CUDA events (ours) or torch.cuda.synchronize after a warm-up."""

import time

import numpy as np
import torch

import fastmlp
from fastmlp import _core

rows = []
shapes = [(4096, 4096, 4096), (200, 100, 784), (784, 100, 200), (200, 784, 100)]
for M, N, K in shapes:
    flops = 2.0 * M * N * K
    reps = 10 if M * N * K > 1e9 else 200
    ours = {p: flops / (_core.cuda_kernels.gemm_time_ms(M, N, K, p, reps) * 1e-3) / 1e12
            for p in ("float32", "tf32", "bf16")}
    a = torch.randn(M, K, device="cuda")
    b = torch.randn(K, N, device="cuda")
    res = {}
    for name, allow_tf32 in (("cublas fp32", False), ("cublas tf32", True)):
        torch.backends.cuda.matmul.allow_tf32 = allow_tf32
        torch.matmul(a, b)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b)
        torch.cuda.synchronize()
        res[name] = flops * reps / (time.perf_counter() - t) / 1e12
    rows.append((f"gemm {M}x{N}x{K}", ours["float32"], ours["tf32"], ours["bf16"],
                 res["cublas fp32"], res["cublas tf32"]))

print("\n| GEMM (TFLOPS) | ours f32 | ours tf32 | ours bf16 | cuBLAS f32 | cuBLAS tf32 |")
print("| --- | --- | --- | --- | --- | --- |")
for r in rows:
    print(f"| {r[0]} | " + " | ".join(f"{x:.2f}" for x in r[1:]) + " |")

# mnist784-shaped: 60000 x 784, 10 classes, hidden 100, adam, batch 200, 5 epochs.
rng = np.random.default_rng(0)
n, d, k, epochs = 60000, 784, 10, 5
X = rng.random((n, d), dtype=np.float32)
y = rng.integers(0, k, n)
kw = dict(hidden_layer_sizes=(100,), max_iter=epochs, batch_size=200, tol=0, random_state=0)
times = {}
for device in ("cuda", "cpu"):
    t = time.perf_counter()
    fastmlp.MLPClassifier(device=device, **kw).fit(X, y)
    times[f"fastmlp {device}"] = time.perf_counter() - t
torch.backends.cuda.matmul.allow_tf32 = False
model = torch.nn.Sequential(torch.nn.Linear(d, 100), torch.nn.ReLU(), torch.nn.Linear(100, k)).cuda()
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=0)
Xt, yt = torch.from_numpy(X).cuda(), torch.from_numpy(y).cuda()
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(epochs):
    perm = torch.randperm(n, device="cuda")
    for s in range(0, n, 200):
        idx = perm[s:s + 200]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    loss.item()
torch.cuda.synchronize()
times["pytorch cuda"] = time.perf_counter() - t
print(f"\n| mnist784-shaped fit, {epochs} epochs | seconds |")
print("| --- | --- |")
for name, s in times.items():
    print(f"| {name} | {s:.2f} |")
