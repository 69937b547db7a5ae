#!/usr/bin/env bash
# The GPU check, ready for a machine with one CUDA GPU (not part of CI): the GPU-marked tests, then every editor on
# the GPU in fp16 and bf16 at batch 1-64 (images/s, peak memory, U-Net utilisation against the device's peak), in
# about 8 minutes. Fails at once, saying why, where there is no usable GPU.
#   bash benchmarks/gpu_check.sh [MODEL ...]     # models: presets or folders (default: toy-text-ddpm tiny-latent)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: no CUDA GPU visible to torch (torch.cuda.is_available() is False): nothing to check" >&2
  exit 2
fi
"$PY" -c 'import torch; print("gpu_check:", torch.cuda.get_device_name(), "torch", torch.__version__)'
export HF_HUB_OFFLINE=1 AWS_EC2_METADATA_DISABLED=true RAY_USAGE_STATS_ENABLED=0
timeout 180 "$PY" -m pytest -q -m gpu
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(toy-text-ddpm tiny-latent)
timeout 300 "$PY" benchmarks/gpu_editors.py --device cuda --models "${MODELS[@]}" --dtypes float16 bfloat16 \
  --batches 1 8 64 --steps 10 --repeats 3 | grep -v '^{'
