#!/usr/bin/env bash
# Run every GPU benchmark once, in one go, writing JSON + logs to $1 (default bench/gpu-results).
# Usage on a CUDA machine with the kit importable:  bash bench/run_gpu_benches.sh OUTDIR
set -uo pipefail
out="${1:-bench/gpu-results}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers, diffusers, open_clip; print('torch', torch.__version__, 'transformers', transformers.__version__, 'diffusers', diffusers.__version__, 'open_clip', open_clip.__version__)" | tee -a "$out/gpu.txt"
run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; local rc=$?
  tail -n 25 "$out/$name.log"; echo "=== $name rc=$rc"
}
run synthesis 180 python3 bench/synthesis_bench.py --device cuda --json "$out/synthesis.json"
run scoring 150 python3 bench/scoring_bench.py --device cuda --n 512 --json "$out/scoring.json"
run train 140 python3 bench/train_bench.py --device cuda --json "$out/train.json"
run evaluation 50 python3 bench/evaluation_bench.py --device cuda --questions 128 --batch-sizes 1,8,32 --dtype bf16 --json "$out/evaluation.json"
