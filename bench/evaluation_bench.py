"""Stage 05 answer throughput: batch size 1 (LLaVA's scripts, the baseline) against left-padded batches.

For each batch size it times greedy answering of the same questions and counts answers that differ
from batch size 1 (batch-size-dependent scores are a known harness bug, anchors.md F6). Questions are
the kit's fixtures (all benchmarks) repeated to ``--questions``.

    python bench/evaluation_bench.py --device cpu --quick
    python bench/evaluation_bench.py --device cuda --model llava-hf/llava-1.5-7b-hf --dtype bf16 \
        --questions 256 --batch-sizes 1,8,16 --max-new-tokens 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    p.add_argument("--model", default="tiny:llava", help="llava-hf dir, hub id or tiny:<name> (default tiny:llava)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="model dtype (default fp32)")
    p.add_argument("--questions", type=int, default=64, help="questions per batch size (default 64)")
    p.add_argument("--batch-sizes", default="1,4,8", help="comma-separated; 1 is always run first (default 1,4,8)")
    p.add_argument("--max-new-tokens", type=int, default=16, help="greedy tokens per answer (default 16)")
    p.add_argument("--quick", action="store_true", help="16 questions, batch sizes 1,4, 8 tokens")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.questions, args.batch_sizes, args.max_new_tokens = 16, "1,4", 8

    import torch

    from synthvlm_repro.evaluation.benchmarks import get_benchmark
    from synthvlm_repro.evaluation.config import EvaluationConfig
    from synthvlm_repro.evaluation.fixtures import WRITERS, write_fixtures
    from synthvlm_repro.evaluation.inference import generate_batch, load_llava
    from synthvlm_repro.models import resolve_model

    root = write_fixtures(Path(tempfile.mkdtemp(prefix="evalbench-")), mmlu=False)
    cfg = EvaluationConfig()
    pool = [q for name in WRITERS for qs in get_benchmark(name).questions(root, cfg).values() for q in qs]
    questions = [pool[i % len(pool)] for i in range(args.questions)]
    model, processor = load_llava(resolve_model(args.model), args.device, args.dtype)

    sizes = sorted({1, *(int(x) for x in args.batch_sizes.split(","))})
    results, reference = [], None
    for bs in sizes:
        generate_batch(model, processor, questions[:bs], 2)  # warm-up
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        answers = []
        for i in range(0, len(questions), bs):
            answers += generate_batch(model, processor, questions[i:i + bs], args.max_new_tokens)[0]
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        reference = answers if bs == 1 else reference
        diff = [i for i, (a, b) in enumerate(zip(answers, reference)) if a != b]
        results.append({"batch_size": bs, "seconds": round(seconds, 3),
                        "questions_per_s": round(len(questions) / seconds, 2),
                        "speedup_vs_bs1": round(results[0]["seconds"] / seconds, 2) if results else 1.0,
                        "answers_differing_from_bs1": len(diff),
                        "first_differences": [(questions[i].qid, reference[i], answers[i]) for i in diff[:3]]})
        print(json.dumps(results[-1], ensure_ascii=False))
    meta = {"device": args.device, "model": args.model, "dtype": args.dtype, "questions": len(questions),
            "max_new_tokens": args.max_new_tokens, "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False))
    return 1 if any(r["answers_differing_from_bs1"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
