"""Pairs/s of stage 03's one-pass scorer vs a reimplementation of the official two passes.

Baseline (what the SynthVLM authors run, paper.md §1.4 and §4):
  1. CLIP pass as the official ``clipscore.py`` (Hessel et al.): a DataLoader of images (batch 64) and
     one of every entry's prefixed caption (batch 256, full 77-token context, no de-duplication),
     model in fp16 on CUDA / fp32 on CPU, score = max(cos, 0).
  2. SSIM pass as the author's ``calc_ssim.py``: one image at a time, decode, 768→336→768 bilinear,
     grayscale, ``skimage.metrics.structural_similarity``.
Kit: ``synthvlm_repro.selection.scoring.score_rows`` (decode once, both inputs built in DataLoader
workers a few images per fetch, text encoded once per caption and only up to its length, SSIM batched
in torch on CUDA or in the workers with skimage on CPU), with the same ViT-B-32 (random weights),
precision and JPEGs.
Both produce the same scores; the bench checks that before it reports speed.

``--compare-decode``: the kit with ``selection.decode: cpu`` (PIL in workers) against ``gpu`` (batched
nvJPEG + tensor preprocessing, selection/gpu_decode.py) on the same JPEGs: pairs/s of each and the max
|Δ| of CLIPScore and SSIM (no official passes). On a CPU device the tensor path runs on the CPU (a check
of the scores, not of speed).

  python bench/scoring_bench.py --device cpu --quick
  python bench/scoring_bench.py --device cuda --compare-decode --n 2048
  python bench/scoring_bench.py --device cuda            # 256 images at 1024², about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image


def _write_jpeg(args) -> None:
    i, path, size = args
    rng = np.random.default_rng(i)
    x = np.linspace(0, 1, size, dtype=np.float32)
    gradient = np.add.outer(x * rng.uniform(50, 200), x * rng.uniform(50, 200))[..., None] * rng.random(3)
    noise = rng.normal(0, rng.uniform(2, 40), (size, size, 3)).astype(np.float32)
    Image.fromarray((gradient + noise).clip(0, 255).astype(np.uint8)).save(path, quality=95)


def make_jpegs(folder: Path, n: int, size: int, repeat: int) -> pd.DataFrame:
    """``n`` noise-plus-gradient JPEGs (deterministic, written in parallel) and a manifest with
    ``n // repeat`` captions."""
    from concurrent.futures import ProcessPoolExecutor

    from synthvlm_repro.sample_data import load_sample_captions

    captions = [c["caption"] for c in load_sample_captions()]
    jobs = [(i, folder / f"{i:05d}.jpg", size) for i in range(n)]
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(_write_jpeg, jobs, chunksize=8))
    rows = [dict(caption_id=f"c{i // repeat:05d}", candidate=i % repeat,
                 caption=captions[(i // repeat) % len(captions)], path=f"{i:05d}.jpg", status="ok")
            for i in range(n)]
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the official two passes


class _Images(torch.utils.data.Dataset):
    def __init__(self, paths, preprocess):
        self.paths, self.preprocess = paths, preprocess

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return self.preprocess(Image.open(self.paths[i]).convert("RGB"))


class _Texts(torch.utils.data.Dataset):
    def __init__(self, tokens):
        self.tokens = tokens

    def __len__(self):
        return len(self.tokens)

    def __getitem__(self, i):
        return self.tokens[i]


def official_clip_pass(model, preprocess, tokenizer, paths, captions, device, dtype, workers):
    """clipscore.py's extract_all_images / extract_all_captions, then 2.5·max(cos, 0) / 2.5."""
    image_feats, text_feats = [], []
    with torch.no_grad():
        for pixels in torch.utils.data.DataLoader(_Images(paths, preprocess), batch_size=64, num_workers=workers):
            image_feats.append(model.encode_image(pixels.to(device, dtype)).float().cpu())
        tokens = tokenizer(["A photo depicts " + c for c in captions])
        for batch in torch.utils.data.DataLoader(_Texts(tokens), batch_size=256, num_workers=workers):
            text_feats.append(model.encode_text(batch.to(device)).float().cpu())
    img = torch.nn.functional.normalize(torch.cat(image_feats), dim=-1)
    txt = torch.nn.functional.normalize(torch.cat(text_feats), dim=-1)
    return np.clip((img * txt).sum(-1).numpy(), 0, None)


def official_ssim_pass(paths):
    """calc_ssim.py: one image at a time."""
    from skimage.metrics import structural_similarity

    out = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        a = image.resize((768, 768), Image.BILINEAR)
        b = a.resize((336, 336), Image.BILINEAR).resize((768, 768), Image.BILINEAR)
        out.append(structural_similarity(np.array(a.convert("L")), np.array(b.convert("L"))))
    return np.array(out)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--n", type=int, default=None, help="images (default: 256 on cuda, 64 on cpu)")
    parser.add_argument("--size", type=int, default=1024, help="JPEG side in pixels (default: 1024, as SDXL)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="candidates per caption (default 1; the official run.sh uses 5)")
    parser.add_argument("--workers", type=int, default=8,
                        help="DataLoader workers of the official CLIP pass (default: 8, as clipscore.py)")
    parser.add_argument("--kit-workers", type=int, default=None,
                        help="DataLoader workers of the kit (default: one per CPU core, the kit's default)")
    parser.add_argument("--batch-size", type=int, default=64, help="kit batch size (default: 64, as official)")
    parser.add_argument("--quick", action="store_true", help="16 images (a check that it runs, not a measurement)")
    parser.add_argument("--compare-decode", action="store_true",
                        help="kit with CPU decode vs GPU decode (pairs/s, max |Δ|) instead of kit vs official")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    n = 16 if args.quick else args.n or (256 if args.device.startswith("cuda") else 64)

    from synthvlm_repro.config import load_config
    from synthvlm_repro.selection.clipscore import ClipScorer
    from synthvlm_repro.selection.scoring import merge_scores, score_rows

    torch.manual_seed(0)
    precision = "fp16" if args.device.startswith("cuda") else "fp32"
    scorer = ClipScorer("ViT-B-32", None, args.device, precision)  # real-size architecture, random weights
    cfg = load_config("paper", [f"selection.batch_size={args.batch_size}", f"selection.precision={precision}",
                                f"selection.num_workers={_yaml(args.kit_workers)}"]).selection
    kit_workers = len(os.sched_getaffinity(0)) if cfg.num_workers is None else cfg.num_workers

    with tempfile.TemporaryDirectory(prefix="scoring-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        rows = make_jpegs(root, n, args.size, args.repeat)
        print(f"{n} JPEGs at {args.size}² made in {time.perf_counter() - t0:.1f} s; device {args.device}, "
              f"precision {precision}, workers official {args.workers} / kit {kit_workers}, "
              f"torch threads {torch.get_num_threads()}", flush=True)
        if args.compare_decode:
            return compare_decode(rows, root, cfg, scorer, args)
        paths = [root / p for p in rows.path]

        # warm-up (model, kernels, allocator) on a few images, not timed
        official_clip_pass(scorer.model, scorer.preprocess, scorer.tokenizer, paths[:2], list(rows.caption[:2]),
                           args.device, scorer.dtype, 0)
        score_rows(rows.head(2), root, cfg.model_copy(update={"num_workers": 0}), args.device, root / "warm",
                   clip_model=scorer, progress=False)

        _sync(args.device)
        t0 = time.perf_counter()
        clip_ref = official_clip_pass(scorer.model, scorer.preprocess, scorer.tokenizer, paths, list(rows.caption),
                                      args.device, scorer.dtype, args.workers)
        _sync(args.device)
        t_clip = time.perf_counter() - t0
        t0 = time.perf_counter()
        ssim_ref = official_ssim_pass(paths)
        t_ssim = time.perf_counter() - t0

        _sync(args.device)
        t0 = time.perf_counter()
        score_rows(rows, root, cfg, args.device, root / "parts", clip_model=scorer, progress=False)
        _sync(args.device)
        t_kit = time.perf_counter() - t0
        kit = merge_scores(rows, root / "parts", 0.5).set_index("path").loc[rows.path]

    d_clip = float(np.abs(kit.clip_score.to_numpy() - clip_ref).max())
    d_ssim = float(np.abs(kit.ssim.to_numpy() - ssim_ref).max())
    t_official = t_clip + t_ssim
    result = {"device": args.device, "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
              "n": n, "size": args.size, "repeat": args.repeat, "official_workers": args.workers,
              "kit_workers": kit_workers, "precision": precision,
              "official_clip_s": round(t_clip, 2), "official_ssim_s": round(t_ssim, 2),
              "official_pairs_per_s": round(n / t_official, 2), "kit_s": round(t_kit, 2),
              "kit_pairs_per_s": round(n / t_kit, 2), "speedup": round(t_official / t_kit, 2),
              "max_abs_diff_clip": d_clip, "max_abs_diff_ssim": d_ssim,
              "clip_positive_fraction": float((clip_ref > 0).mean())}  # random weights: many cosines clip to 0
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    tol_clip = 5e-3 if precision == "fp16" else 1e-4
    if d_clip > tol_clip or d_ssim > 1e-4:
        print(f"error: kit and official scores disagree (clip {d_clip:.2e}, ssim {d_ssim:.2e})", file=sys.stderr)
        return 1
    return 0


def compare_decode(rows: pd.DataFrame, root: Path, cfg, scorer, args) -> int:
    """Kit pairs/s with PIL decoding in workers vs batched decoding on the device; max |Δ| of the scores."""
    from synthvlm_repro.selection.scoring import merge_scores, score_rows

    cuda = args.device.startswith("cuda")
    gpu_cfg = cfg.model_copy(update={"decode": "gpu", "ssim_backend": "torch"})
    seconds, scores = {}, {}
    for name, c in (("cpu_decode", cfg), ("gpu_decode", gpu_cfg)):
        warm = rows.head(min(len(rows), 2 * cfg.batch_size))
        run = (lambda r, out: score_rows(r, root, c, args.device, out, clip_model=scorer, progress=False)) \
            if cuda or name == "cpu_decode" else (lambda r, out: _tensor_path_on_cpu(r, root, c, scorer, out))
        run(warm, root / f"warm-{name}")
        _sync(args.device)
        t0 = time.perf_counter()
        run(rows, root / name)
        _sync(args.device)
        seconds[name] = time.perf_counter() - t0
        scores[name] = merge_scores(rows, root / name, 0.5).set_index("path").loc[rows.path]
    a, b = scores["cpu_decode"], scores["gpu_decode"]
    result = {"device": args.device, "gpu": torch.cuda.get_device_name() if cuda else None, "n": len(rows),
              "size": args.size, "batch_size": cfg.batch_size, "precision": scorer.precision,
              "kit_workers": len(os.sched_getaffinity(0)) if cfg.num_workers is None else cfg.num_workers,
              "cpu_decode_s": round(seconds["cpu_decode"], 2), "gpu_decode_s": round(seconds["gpu_decode"], 2),
              "cpu_decode_pairs_per_s": round(len(rows) / seconds["cpu_decode"], 2),
              "gpu_decode_pairs_per_s": round(len(rows) / seconds["gpu_decode"], 2),
              "speedup": round(seconds["cpu_decode"] / seconds["gpu_decode"], 2),
              "max_abs_diff_clip": float(np.abs(a.clip_score.to_numpy() - b.clip_score.to_numpy()).max()),
              "max_abs_diff_ssim": float(np.abs(a.ssim.to_numpy() - b.ssim.to_numpy()).max()),
              "all_ok": bool((a.status == "ok").all() and (b.status == "ok").all())}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    if max(result["max_abs_diff_clip"], result["max_abs_diff_ssim"]) > 1e-3 or not result["all_ok"]:
        print("GPU decode differs from CPU decode by more than 1e-3 (keep selection.decode=cpu)", file=sys.stderr)
        return 1
    return 0


def _tensor_path_on_cpu(rows: pd.DataFrame, root: Path, cfg, scorer, out: Path) -> None:
    """The GPU-decode batches computed on the CPU (``score_rows`` refuses decode=gpu without CUDA), written
    as score parts so both paths are merged the same way."""
    from synthvlm_repro.atomic import write_parquet
    from synthvlm_repro.selection.gpu_decode import decoded_batches
    from synthvlm_repro.selection.scorer import build_scorers
    from synthvlm_repro.selection.scoring import SCORE_COLUMNS, _record, score_batch

    rows = rows.reset_index(drop=True)
    scorers = build_scorers(cfg, "cpu", clip_score=scorer)
    for s in scorers:
        s.begin(list(rows.caption))
    records = []
    for batch in decoded_batches([root / p for p in rows.path], scorers, cfg, "cpu", 0):
        values = score_batch(scorers, batch["inputs"], batch["index"]) if batch["index"] else {}
        records += [_record(rows.iloc[i], {c: float(v[k]) for c, v in values.items()}, "ok", "")
                    for k, i in enumerate(batch["index"])]
    write_parquet(out / "shard-0000-of-0001" / "part-000000.parquet", pd.DataFrame(records, columns=SCORE_COLUMNS))


def _yaml(value) -> str:
    return "null" if value is None else str(value)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


if __name__ == "__main__":
    sys.exit(main())
