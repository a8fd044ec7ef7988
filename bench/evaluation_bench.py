"""Stage 05 answer throughput: batch size 1 (LLaVA's scripts, the baseline) against faster paths.

For each mode it times greedy answering of the same questions and counts answers that differ from eager
batch size 1 (batch-size-dependent scores are a known harness bug, anchors.md F6). Modes:

- ``padded-N``: left-padded batches of N (what lmms-eval does);
- ``static-1``: batch size 1 with a static KV cache (on CUDA transformers compiles the decoding step);
- ``grouped-N``: batches of up to N questions of equal prompt length, so no padding
  (evaluation/fast_generate.py); ``grouped-static-N`` adds the static cache.

Questions are the kit's fixtures (all benchmarks) repeated to ``--questions`` (repeats share prompt
lengths, so ``grouped`` batches are fuller here than on a real benchmark; the JSON reports the mean
batch). ``--arch 7b``: LLaVA-1.5-7B's architecture (random weights, created on the device) with the
tiny tokenizer's 1,024-row vocabulary so that answers decode to text; images at 336 px (576 tokens).

    python bench/evaluation_bench.py --device cpu --quick
    python bench/evaluation_bench.py --device cuda --arch 7b --dtype bf16 --questions 96 \
        --modes padded-8,static-1,grouped-8 --max-new-tokens 16
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


def llava_7b_random(device: str, dtype: str, lm_layers: int = 32, vision_layers: int = 24):
    """``(model, processor)``: LLaVA-1.5-7B's architecture, random weights, with the tiny llava tokenizer."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from synthvlm_repro.models import resolve_model
    from synthvlm_repro.runtime.dtypes import torch_dtype

    sys.path.insert(0, str(Path(__file__).parent))
    from train_bench import llava_7b_config

    processor = AutoProcessor.from_pretrained(resolve_model("tiny:llava"))
    processor.tokenizer.padding_side = "left"
    processor.image_processor.size = {"shortest_edge": 336}
    processor.image_processor.crop_size = {"height": 336, "width": 336}
    config = llava_7b_config(lm_layers, vision_layers)
    tok = processor.tokenizer
    config.text_config.vocab_size = -(-len(tok) // 64) * 64
    config.text_config.pad_token_id = tok.pad_token_id
    config.image_token_index = tok.convert_tokens_to_ids("<image>")
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype(dtype, device))
    try:
        with torch.device(device):
            model = LlavaForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model.eval(), processor


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run (default cpu)")
    p.add_argument("--model", default="tiny:llava", help="llava-hf dir, hub id or tiny:<name> (default tiny:llava)")
    p.add_argument("--arch", default=None, choices=["7b"], help="7b: LLaVA-1.5-7B architecture, random weights")
    p.add_argument("--lm-layers", type=int, default=32, help="LM depth for --arch 7b (smaller: a dry run)")
    p.add_argument("--vision-layers", type=int, default=24, help="vision depth for --arch 7b")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"], help="model dtype (default fp32)")
    p.add_argument("--questions", type=int, default=64, help="questions per mode (default 64)")
    p.add_argument("--modes", default="padded-4,padded-8",
                   help="comma-separated padded-N, static-1, grouped-N, grouped-static-N; eager bs 1 always runs "
                        "first (default padded-4,padded-8)")
    p.add_argument("--batch-sizes", default=None, help="old spelling: 1,8,32 = --modes padded-8,padded-32")
    p.add_argument("--max-new-tokens", type=int, default=16, help="greedy tokens per answer (default 16)")
    p.add_argument("--quick", action="store_true", help="16 questions, 8 tokens")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.batch_sizes:
        args.modes = ",".join(f"padded-{b}" for b in args.batch_sizes.split(",") if int(b) > 1)
    if args.quick:
        args.questions, args.max_new_tokens = 16, 8

    import torch

    from synthvlm_repro.evaluation.benchmarks import get_benchmark
    from synthvlm_repro.evaluation.config import EvaluationConfig
    from synthvlm_repro.evaluation.fast_generate import answer_batches, generate_options
    from synthvlm_repro.evaluation.fixtures import WRITERS, write_fixtures
    from synthvlm_repro.evaluation.inference import generate_batch, load_llava
    from synthvlm_repro.models import resolve_model

    root = write_fixtures(Path(tempfile.mkdtemp(prefix="evalbench-")), mmlu=False)
    cfg = EvaluationConfig()
    pool = [q for name in WRITERS for qs in get_benchmark(name).questions(root, cfg).values() for q in qs]
    questions = [pool[i % len(pool)] for i in range(args.questions)]
    t0 = time.perf_counter()
    if args.arch == "7b":
        model, processor = llava_7b_random(args.device, args.dtype, args.lm_layers, args.vision_layers)
    else:
        model, processor = load_llava(resolve_model(args.model), args.device, args.dtype)
    print(f"model ready in {time.perf_counter() - t0:.1f} s: {sum(p.numel() for p in model.parameters()) / 1e6:,.0f} M "
          f"params, {args.dtype}, {args.device}", flush=True)

    def sync():
        if args.device == "cuda":
            torch.cuda.synchronize()

    modes = ["eager-1", *(m for m in args.modes.split(",") if m)]
    results, reference = [], None
    for mode in modes:
        kind, size = mode.rsplit("-", 1)
        size = int(size)
        grouped = kind.startswith("grouped")
        options = generate_options("static" if "static" in kind else "dynamic",
                                   compile_decoding=args.device == "cuda")
        batches = answer_batches(questions, processor.tokenizer, size, grouped)
        t0 = time.perf_counter()
        for b in batches[:2]:  # warm-up (and, with a static cache on CUDA, compilation): not timed
            generate_batch(model, processor, b, 2, **options)
        sync()
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        answers = {}
        for b in batches:
            texts = generate_batch(model, processor, b, args.max_new_tokens, **options)[0]
            answers.update({id(q): t for q, t in zip(b, texts)})
        sync()
        seconds = time.perf_counter() - t0
        ordered = [answers[id(q)] for q in questions]
        reference = ordered if mode == "eager-1" else reference
        diff = [i for i, (a, b) in enumerate(zip(ordered, reference)) if a != b]
        results.append({"mode": mode, "batches": len(batches), "mean_batch": round(len(questions) / len(batches), 2),
                        "warmup_s": round(warm_s, 2), "seconds": round(seconds, 3),
                        "questions_per_s": round(len(questions) / seconds, 2),
                        "speedup_vs_eager_bs1": round(results[0]["seconds"] / seconds, 2) if results else 1.0,
                        "answers_differing_from_eager_bs1": len(diff),
                        "first_differences": [(questions[i].qid, reference[i], ordered[i]) for i in diff[:3]]})
        print(json.dumps(results[-1], ensure_ascii=False), flush=True)
        if args.json:  # after every mode, so a time limit keeps the modes already measured
            Path(args.json).write_text(json.dumps({"results": results}, indent=2, ensure_ascii=False))
    arch = f"llava-1.5-7b architecture (random; {args.lm_layers} LM / {args.vision_layers} vision layers)"
    meta = {"device": args.device, "model": arch if args.arch else args.model,
            "dtype": args.dtype, "questions": len(questions), "max_new_tokens": args.max_new_tokens,
            "distinct_answers_eager": len(set(reference)), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
    print(json.dumps(meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False))
    return 1 if any(r["answers_differing_from_eager_bs1"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
