#!/usr/bin/env bash
# One run on a GPU machine (no internet; PyTorch with cuBLAS installed there): build with
# CUDA, run the GPU tests, print a table (our GEMM vs cuBLAS; mnist784-shaped fit vs PyTorch
# and vs fastmlp on the CPU). Meant to finish within 5 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/cuda/bin"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
nvcc --version | tail -1
start=$SECONDS
pip install -q --no-build-isolation -Ccmake.define.FASTMLP_CUDA=ON . || exit 1
echo "build: $((SECONDS - start)) s"
python3 -c "import fastmlp, fastmlp._core as c; print('has_cuda', c.has_cuda, 'cuda_available', fastmlp.cuda_available(), c.cuda_device())"
timeout 150 python3 -m pytest -q -x tests/test_cuda.py 2>&1 | tail -15
timeout 120 python3 benchmarks/gpu_check.py
