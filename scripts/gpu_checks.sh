#!/usr/bin/env bash
# Every check that needs a GPU, in one call, for a machine that has a CUDA GPU, PyTorch and Triton but no network:
#   bash scripts/gpu_checks.sh PEERS OUT
# PEERS holds what `python -m kernels.peers download PEERS` fetched on a machine with PyPI (mamba_ssm's sdist,
# accelerated-scan's wheel). OUT receives the logs and results/kernels_gpu.md's new text (kernels_gpu.md).
# Steps, each with its own time limit so that one slow step cannot lose the others' logs:
#   1. build the peers in the background (mamba_ssm's selective scan ~1 min, accelerated-scan's warp kernel ~70 s);
#   2. a smoke test of the fused kernel against lessons' reference;
#   3. the benchmark (every contender interleaved; float32 and bfloat16), and lesson 08's SSD against mamba_ssm's;
#   4. the kernel tests, compiled, with CUDA_LAUNCH_BLOCKING=1 (the largest benchmark size included);
#   5. compute-sanitizer's memcheck on a forward + backward with ragged sizes;
#   6. the chunk-length sweep and autotune's choices.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
peers=$(realpath "${1:?usage: gpu_checks.sh PEERS OUT}")
out=$(realpath -m "${2:?usage: gpu_checks.sh PEERS OUT}")
mkdir -p "$out"
export PYTHONUNBUFFERED=1
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/machine.txt"
python3 -c "import sys, torch, triton; print('python', sys.version.split()[0], 'torch', torch.__version__, 'triton', triton.__version__)" \
    | tee -a "$out/machine.txt"

step "peers: build in the background"
build=/tmp/kernel-peers
mkdir -p "$build/site" && python3 -m zipfile -e "$peers"/accelerated_scan-*.whl "$build/site"
(timeout 240 python3 -m kernels.peers build "$peers" "$build" >"$out/peers.log" 2>&1
 echo "exit $?" >>"$out/peers.log") &
mamba_builder=$!
(PYTHONPATH="$build/site" timeout 240 python3 -c "import accelerated_scan.warp" >"$out/accelerated_scan_warp.log" 2>&1
 echo "exit $?" >>"$out/accelerated_scan_warp.log") &
warp_builder=$!

step "smoke test"
KERNELS_AUTOTUNE=0 timeout 120 python3 - <<'PY' 2>&1 | tee "$out/smoke.log"
import torch, kernels
from lessons.ssm import selective_scan, selective_scan_inputs
x = selective_scan_inputs(2, 96, 1000, 16, device="cuda", dtype=torch.float64)
names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
def run(fn):
    leaves = {k: v.detach().requires_grad_() if k in names else v for k, v in x.items()}
    out = fn(**leaves)
    return out, torch.autograd.grad((out * out.detach().sin()).sum(), [leaves[k] for k in names])
out, grads = run(kernels.selective_scan)
ref, ref_grads = run(selective_scan)
print("out max abs diff", (out - ref).abs().max().item())
for k, g, r in zip(names, grads, ref_grads):
    print(f"d{k} max rel diff {((g - r).abs().max() / r.abs().max()).item():.2e}")
PY

step "waiting for the peers"
wait "$mamba_builder" "$warp_builder"
tail -n 3 "$out/peers.log" "$out/accelerated_scan_warp.log"
eval "$(grep '^export PYTHONPATH' "$out/peers.log")"

step "benchmark"
timeout 300 python3 -m kernels.bench --record "$out/kernels_gpu.md" 2>&1 | tee "$out/bench.log"

step "SSD benchmark (lesson 08; mamba's Triton SSD autotunes at each new shape: N 64 only)"
timeout 240 python3 -m kernels.bench --ssd --ssd-states 64 --record "$out/ssd_gpu.md" 2>&1 | tee "$out/ssd_bench.log"

step "kernel tests (compiled)"
CUDA_LAUNCH_BLOCKING=1 KERNELS_AUTOTUNE=0 timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="" \
    tests/test_kernel_selective_scan.py tests/test_kernel_scan.py tests/test_kernel_cumsum.py tests/test_kernel_ssd.py 2>&1 | tail -n 40 | tee "$out/tests.log"

step "compute-sanitizer memcheck"
KERNELS_AUTOTUNE=0 timeout 90 compute-sanitizer --tool memcheck --print-limit 20 python3 - <<'PY' 2>&1 | tail -n 25 | tee "$out/sanitizer.log"
import torch, kernels
from lessons.ssm import selective_scan_inputs
for sizes in ((3, 37, 1000, 16), (1, 5, 130, 7)):
    x = selective_scan_inputs(*sizes, device="cuda")
    leaves = {k: v.detach().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in x.items()}
    out = kernels.selective_scan(**leaves)
    torch.autograd.grad(out.sum(), [v for v in leaves.values() if isinstance(v, torch.Tensor)])
    gates, tokens = torch.rand(2, 3, 4099, device="cuda", requires_grad=True), torch.randn(2, 3, 4099, device="cuda")
    kernels.scan(gates, tokens).sum().backward()
torch.cuda.synchronize()
print("sanitized run finished")
PY

step "sweep"
timeout 100 python3 -m kernels.bench --sweep 2>&1 | tee "$out/sweep.log"
step "done"
