#!/usr/bin/env bash
# One device call: this pack's GPU numbers (benchmarks/gpu_perf.py), then the host check against CPU fp32
# (benchmarks/gpu_host_check.py), from the working tree, against a ComfyUI checkout. No network, no model files.
#
#   bash benchmarks/gpu_check.sh COMFYUI_CHECKOUT [gpu_perf.py options, e.g. --dtypes bf16]
#   PYTHON=/path/to/venv/bin/python bash benchmarks/gpu_check.sh COMFYUI_CHECKOUT --device cpu --small   # smoke run
#
# PYTHON (default: python) needs torch with CUDA, this pack's requirements.txt and ComfyUI's requirements.txt.
set -euo pipefail
COMFY="${1:?usage: bash benchmarks/gpu_check.sh COMFYUI_CHECKOUT [gpu_perf.py options]}"
shift
PYTHON="${PYTHON:-python}"
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # nothing may be fetched: the machine has no network

device=cuda
small=()
previous=""
for arg in "$@"; do
  if [ "$previous" = "--device" ]; then device="$arg"; fi
  if [ "$arg" = "--small" ]; then small=(--small); fi
  previous="$arg"
done

date -u +"%Y-%m-%d %H:%M UTC"
if [ "$device" = cuda ]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; fi
"$PYTHON" benchmarks/gpu_perf.py --comfyui "$COMFY" "$@"
"$PYTHON" benchmarks/gpu_host_check.py "$COMFY" --device "$device" ${small[@]+"${small[@]}"}

