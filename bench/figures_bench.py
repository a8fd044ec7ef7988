"""Benchmark of stage 06's automatic preference judge (the only heavy part of stage 06).

Compares the kit's judge (both orders × both answers scored in ONE padded forward pass per pair)
against the naive baseline (one unpadded forward per order and answer: 4 passes per pair), checks that
both give the same log-probabilities, and reports pairs/s. Also times the CLIP + t-SNE figure path.

    python bench/figures_bench.py --device cpu --quick
    python bench/figures_bench.py --device cuda --model llava-hf/llava-1.5-7b-hf --pairs 64
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from PIL import Image, ImageOps


def make_pairs(n: int):
    """``n`` (caption, synthetic, original) triples from the sample images (synthetic = mirrored copy)."""
    from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

    records = [r for r in load_sample_captions() if r.get("image")]
    out = []
    for i in range(n):
        r = records[i % len(records)]
        img = Image.open(sample_data_dir() / r["image"]).convert("RGB")
        out.append((r["caption"], ImageOps.mirror(img), img))
    return out


def naive_logprobs(judge, image, prompt):
    """Baseline: one forward per answer, no batching."""
    import torch

    scores = []
    n_prompt = judge.processor(images=image, text=prompt, return_tensors="pt")["input_ids"].shape[1]
    for answer in (" A", " B"):
        full = judge.processor(images=image, text=prompt + answer, return_tensors="pt").to(judge.device)
        with torch.no_grad():
            logp = torch.log_softmax(judge.model(**full).logits[0].float(), -1)
        ids = full["input_ids"][0]
        scores.append(sum(logp[t - 1, ids[t]].item() for t in range(n_prompt, len(ids))))
    return scores


def sync(device: str):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench_judge(model: str, device: str, dtype: str, n_pairs: int, repeats: int) -> dict:
    from synthvlm_repro.figures.judge import LlavaJudge, side_by_side

    judge = LlavaJudge(model, device=device, dtype=dtype)
    pairs = make_pairs(n_pairs)
    inputs = [([side_by_side(s, o), side_by_side(o, s)], judge.prompt(c)) for c, s, o in pairs]
    judge.answer_logprobs(*[inputs[0][0], [inputs[0][1]] * 2])  # warm-up
    naive_logprobs(judge, inputs[0][0][0], inputs[0][1])
    timings = {"kit_batched": [], "naive_unbatched": []}
    max_diff = 0.0
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        kit = [judge.answer_logprobs(images, [prompt, prompt]) for images, prompt in inputs]
        sync(device)
        timings["kit_batched"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        naive = [[naive_logprobs(judge, im, prompt) for im in images] for images, prompt in inputs]
        sync(device)
        timings["naive_unbatched"].append(time.perf_counter() - t0)
        max_diff = max(max_diff, float(np.max(np.abs(np.array(kit) - np.array(naive)))))
    best = {k: min(v) for k, v in timings.items()}
    return {"model": model, "device": device, "dtype": judge.model.dtype.__repr__(), "pairs": n_pairs,
            "pairs_per_s": {k: round(n_pairs / v, 2) for k, v in best.items()},
            "speedup_vs_naive": round(best["naive_unbatched"] / best["kit_batched"], 2),
            "max_abs_logprob_diff": max_diff}


def bench_tsne(device: str, n: int) -> dict:
    """CLIP-embed ``n`` sample images + captions with the tiny/real CLIP of the smoke profile, then t-SNE."""
    import pandas as pd

    from synthvlm_repro.config import load_config
    from synthvlm_repro.figures.embeddings import ClipEncoder
    from synthvlm_repro.figures.tsne import embed_datasets, tsne_coordinates
    from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

    cfg = load_config("smoke")
    records = [r for r in load_sample_captions() if r.get("image")]
    df = pd.DataFrame([{"id": f"{r['id']}-{k}", "caption": r["caption"], "image": str(sample_data_dir() / r["image"])}
                       for k in range(n // len(records) + 1) for r in records][:n])
    encoder = ClipEncoder.from_config(cfg.selection, device=device)
    t0 = time.perf_counter()
    embedded = embed_datasets(encoder, {"a": df, "b": df}, n, seed=0)
    t1 = time.perf_counter()
    tsne_coordinates(embedded, seed=0)
    t2 = time.perf_counter()
    return {"clip_model": cfg.selection.clip_model, "points_per_modality": 2 * n, "embed_s": round(t1 - t0, 2),
            "tsne_s": round(t2 - t1, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--model", default="tiny:llava", help="llava-hf judge: hub id, dir or tiny:llava")
    parser.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"], help="judge dtype on cuda")
    parser.add_argument("--pairs", type=int, default=32, help="pairs to judge per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    parser.add_argument("--quick", action="store_true", help="8 pairs, 1 repeat, small t-SNE")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.repeats = 8, 1
    result = {"judge": bench_judge(args.model, args.device, args.dtype, args.pairs, args.repeats),
              "tsne": bench_tsne(args.device, 40 if args.quick else 500)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
