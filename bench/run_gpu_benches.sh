#!/usr/bin/env bash
# GPU round 2 (issue 17): one prepared run, ~7 min on one H200, JSON + logs into $1 (default bench/results/gpu2).
#   bash bench/run_gpu_benches.sh [OUTDIR]            # GPU round 2 (below)
#   bash bench/run_gpu_benches.sh OUTDIR round1       # the round-1 benches (synthesis, scoring, train, evaluation)
#   bash bench/run_gpu_benches.sh OUTDIR cpu          # the same round-2 steps, tiny sizes on the CPU (a dry run)
# Every step has its own time limit, so a failed step leaves the others' JSON; rerun only what failed.
set -uo pipefail
out="${1:-bench/results/gpu2}"
mode="${2:-round2}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="${PYTHONPATH:-$PWD}"
py="${PYTHON:-python3}"
run() {  # name, timeout seconds, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1; local rc=$?
  tail -n 12 "$out/$name.log"; echo "=== $name rc=$rc in $((SECONDS - t0)) s"
}
has() { $py -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }

if [ "$mode" = round1 ]; then
  run synthesis 180 $py bench/synthesis_bench.py --device cuda --json "$out/synthesis.json"
  run scoring 150 $py bench/scoring_bench.py --device cuda --n 512 --json "$out/scoring.json"
  run train 140 $py bench/train_bench.py --device cuda --json "$out/train.json"
  run evaluation 50 $py bench/evaluation_bench.py --device cuda --questions 128 --batch-sizes 1,8,32 --dtype bf16 --json "$out/evaluation.json"
  exit 0
fi

if [ "$mode" = cpu ]; then  # tiny sizes: proves every step runs; the numbers mean nothing
  dev=(--device cpu); t1=(--steps 3 --warmup 2); s2=(--stage 2 --steps 2 --caption-tokens 32)
  sc=(--n 16 --size 512 --batch-size 8 --kit-workers 1); ev=(--lm-layers 1 --vision-layers 1 --questions 6 --max-new-tokens 3 --dtype fp32)
  lim=900
else
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
  dev=(--device cuda); t1=(--steps 18 --warmup 2); s2=(--stage 2 --steps 6 --warmup 2); sc=(--n 2048)
  ev=(--questions 48 --max-new-tokens 16 --dtype bf16); lim=0
fi
$py - <<'PY' | tee -a "$out/gpu.txt"
import importlib.util, torch, transformers
extra = {m: importlib.util.find_spec(m) is not None for m in ("liger_kernel", "bitsandbytes", "flash_attn", "deepspeed")}
print("torch", torch.__version__, "transformers", transformers.__version__, "optional:", extra)
PY
new=(--no-grad-ckpt --grad-accum 2); has liger_kernel && [ "$mode" != cpu ] && new+=(--liger)
optim=adamw; has bitsandbytes && optim=adamw8bit
limit() { [ "$lim" -gt 0 ] && echo "$lim" || echo "$1"; }
cat <<PLAN
GPU round 2 plan (outputs in $out):
 1. stage 1, today's path (grad ckpt, sdpa, batch 32): 20 steps, losses + MFU          train_stage1_today.json
 2. stage 1, new path (${new[*]}): same 20 batches, same initial weights                train_stage1_new.json
    -> losses compared step by step (bench/compare_losses.py)                          train_stage1_compare.json
 3. stage 2 on one GPU: 7B, projector+LM trained, fp32 master weights, grad ckpt, $optim: train_stage2.json
 4. scoring: CPU decode vs GPU decode, same JPEGs (pairs/s, max |dCLIPScore|, |dSSIM|) scoring_decode.json
 5. evaluation, 7B architecture bf16: eager bs1 vs static-1, grouped-8 (answers/s, answers differing) evaluation_fast.json
PLAN
run train_stage1_today "$(limit 110)" $py bench/train_bench.py "${dev[@]}" "${t1[@]}" --json "$out/train_stage1_today.json"
run train_stage1_new "$(limit 110)" $py bench/train_bench.py "${dev[@]}" "${t1[@]}" "${new[@]}" --json "$out/train_stage1_new.json"
$py bench/compare_losses.py "$out/train_stage1_today.json" "$out/train_stage1_new.json" --json "$out/train_stage1_compare.json"
run train_stage2 "$(limit 110)" $py bench/train_bench.py "${dev[@]}" "${s2[@]}" --optim "$optim" --json "$out/train_stage2.json"
run scoring_decode "$(limit 80)" $py bench/scoring_bench.py "${dev[@]}" --compare-decode "${sc[@]}" --json "$out/scoring_decode.json"
ev_arch=(--arch 7b); run evaluation_fast "$(limit 150)" $py bench/evaluation_bench.py "${dev[@]}" "${ev_arch[@]}" "${ev[@]}" \
  --modes static-1,grouped-8 --json "$out/evaluation_fast.json"
echo "=== done: $(ls "$out")"
