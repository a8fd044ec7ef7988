"""Stage 01's model steps: the LLM judge (prefix-cached vs HF ``generate``) and the image-text filters'
images/s (DataLoader workers vs decoding in the main process).

    python bench/judge_bench.py                      # CPU: tiny judge + a ~50M random Llama, 48/24 captions
    python bench/judge_bench.py --device cuda --big  # adds a random Llama-3-8B-shaped judge in bf16

Judge: both backends run on the same model object, same captions (the kit's sample), same batch size;
the baseline is today's path (``CaptionJudge``: ``generate`` of ``judge_max_new_tokens`` = 5 tokens per
caption, batches in input order, as ``curate`` calls it); the new path is ``PrefixJudge`` handed the whole
list (``curate`` hands it 16 batches at a time). Random weights never say Yes/No, so each model's
``lm_head`` gets two verdict tokens that ~``--verdict-share`` of the captions answer first (as a real
instruct judge does); the rest are decoded to the end (the fallback), which is in the timing. Verdicts must be
identical caption for caption.

Image-text filters: CLIP and BLIP-ITM (tiny models) over JPEGs streamed from a webdataset tar (512 px,
img2dataset's layout), ``curation.image_workers`` = 0 vs one worker per core.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _captions(n: int) -> list[str]:
    from synthvlm_repro.sample_data import sample_captions_path

    pool = [r["caption"] for r in json.loads(sample_captions_path().read_text())]
    return [pool[i % len(pool)] if i < len(pool) else f"{pool[i % len(pool)]} (view {i // len(pool)})"
            for i in range(n)]


def bench_judge(name: str, model, tokenizer, captions: list[str], batch_size: int, share: float) -> dict:
    import torch

    from synthvlm_repro.curation.judge import CaptionJudge, PrefixJudge
    from synthvlm_repro.curation.random_judges import bias_towards_verdicts

    reference = CaptionJudge(model=model, tokenizer=tokenizer, max_new_tokens=5)
    bias_towards_verdicts(model, tokenizer, [reference.prompt(c) for c in captions[:64]], quantile=share)
    fast = PrefixJudge(model=model, tokenizer=tokenizer, max_new_tokens=5, batch_size=batch_size)
    fast(captions[:batch_size])  # warm-up (and the prefix's KV cache, computed once per judge)
    fast.counts = {key: 0 for key in fast.counts}
    reference(captions[:batch_size])
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    expected = [r for lo in range(0, len(captions), batch_size) for r in reference(captions[lo:lo + batch_size])]
    sync()
    t_generate = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = fast(captions)
    sync()
    t_prefix = time.perf_counter() - t0
    same = sum(a["judge_verdict"] == b["judge_verdict"] for a, b in zip(expected, got))
    out = {"model": name, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
           "dtype": str(next(model.parameters()).dtype), "captions": len(captions), "batch_size": batch_size,
           "prefix_tokens": len(fast.prefix),
           "mean_prompt_tokens": round(sum(len(fast.encode(fast.prompt(c))) for c in captions) / len(captions), 1),
           "generate_captions_per_s": round(len(captions) / t_generate, 3),
           "prefix_captions_per_s": round(len(captions) / t_prefix, 3), "ratio": round(t_generate / t_prefix, 2),
           "identical_verdicts": same, **{f"path_{k}": v for k, v in fast.counts.items()},
           "verdicts": {v: sum(r["judge_verdict"] == v for r in expected) for v in ("yes", "no", "unparsed")}}
    print(json.dumps(out), flush=True)
    return out


def _web_tar(folder: Path, n: int) -> list[str]:
    """``n`` 512-px JPEGs (the kit's drawn images, resized) in an img2dataset-style tar; their refs."""
    from PIL import Image

    from synthvlm_repro.sample_data import sample_data_dir

    images = sorted((sample_data_dir() / "images").glob("*.png"))
    tar_path = folder / "00000.tar"
    with tarfile.open(tar_path, "w") as tar:
        for i in range(n):
            buf = io.BytesIO()
            Image.open(images[i % len(images)]).convert("RGB").resize((512, 512)).save(buf, "JPEG", quality=90)
            info = tarfile.TarInfo(f"{i:09d}.jpg")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    return [f"{tar_path}#{i:09d}.jpg" for i in range(n)]


def bench_image_filters(n: int, batch_size: int, device: str) -> list[dict]:
    from synthvlm_repro.curation.image_stream import stream_images
    from synthvlm_repro.curation.image_text import BlipItm, ClipSimilarity

    captions = _captions(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        refs = _web_tar(Path(tmp), n)
        for name, model in (("clip_similarity", ClipSimilarity("tiny:open-clip", None, device)),
                            ("itm_score", BlipItm("tiny:blip-itm", device))):
            scores = {}
            for workers in (0, len(os.sched_getaffinity(0))):
                list(stream_images(refs[:batch_size], batch_size, workers))  # warm-up
                t0 = time.perf_counter()
                done, out = 0, []
                for batch in stream_images(refs, batch_size, workers):
                    out += model(batch, captions[done:done + len(batch)])
                    done += len(batch)
                seconds = time.perf_counter() - t0
                scores[workers] = out
                row = {"filter": name, "images": n, "batch_size": batch_size,
                       "workers": workers,
                       "images_per_s": round(n / seconds, 1)}
                print(json.dumps(row), flush=True)
                rows.append(row)
            assert scores[0] == scores[workers], "workers changed the scores"
            rows[-1]["ratio"] = round(rows[-1]["images_per_s"] / rows[-2]["images_per_s"], 2)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--captions", type=int, default=48, help="captions for the tiny judge (half for the others)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--verdict-share", type=float, default=0.9,
                        help="share of captions whose first answer token is a verdict token")
    parser.add_argument("--big", action="store_true", help="also a random Llama-3-8B-shaped judge (GPU)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch threads")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args()

    import torch

    from synthvlm_repro.curation.random_judges import random_llama_judge, tiny_judge_with_verdict_tokens

    torch.set_num_threads(args.threads)
    results = {"device": args.device, "torch": torch.__version__, "judge": [], "image_filters": []}
    model, tok = tiny_judge_with_verdict_tokens()
    results["judge"].append(bench_judge("tiny:judge-lm", model.to(args.device), tok, _captions(args.captions),
                                        args.batch_size, args.verdict_share))
    model, tok = random_llama_judge(hidden=768, layers=8, heads=12, kv_heads=4, intermediate=2048)
    results["judge"].append(bench_judge("random Llama ~50M", model.to(args.device), tok,
                                        _captions(args.captions // 2), args.batch_size, args.verdict_share))
    if args.big:
        model, tok = random_llama_judge(hidden=4096, layers=32, heads=32, kv_heads=8, intermediate=14336)
        model = model.to(dtype=torch.bfloat16, device=args.device)
        results["judge"].append(bench_judge("random Llama-3-8B shape", model, tok, _captions(args.captions * 4),
                                            args.batch_size * 4, args.verdict_share))
    results["image_filters"] = bench_image_filters(args.images, 32, args.device)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    for r in results["judge"]:
        print(f"judge {r['model']}: generate {r['generate_captions_per_s']}/s, prefix {r['prefix_captions_per_s']}/s "
              f"-> {r['ratio']}x, identical verdicts {r['identical_verdicts']}/{r['captions']} "
              f"(settled by the first tokens {r['path_fast']}, decoded from the cache {r['path_decoded']}, "
              f"HF generate {r['path_generate']})")
    return 0 if all(r["identical_verdicts"] == r["captions"] for r in results["judge"]) else 1


if __name__ == "__main__":
    sys.exit(main())
