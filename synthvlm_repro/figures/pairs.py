"""Synthetic-vs-original image pairs for one caption: the material of the example grid and the
preference evaluation (the paper's blind test compares the two images made for the same caption)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from synthvlm_repro.config import ProjectConfig
from synthvlm_repro.figures.artifacts import MissingInput, load_manifest, load_scores, resolve_image
from synthvlm_repro.paths import RunPaths

PAIR_COLUMNS = ["pair_id", "caption", "synthetic", "original"]


def item_seed(seed: int, item_id: str) -> int:
    """A 63-bit seed from the global seed and an item id: the same item gets the same choice everywhere."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def original_images(cfg: ProjectConfig, paths: RunPaths) -> pd.DataFrame:
    """``caption_id, caption, original`` for the captions that came with a real image.

    With ``curation.source: sample`` these are the kit's drawn sample images; otherwise the ``image``
    column of ``captions/curated.parquet`` (relative paths taken against ``curation.image_root`` or the
    caption source's folder, as stage 01 does).
    """
    if cfg.curation.source == "sample":
        from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

        rows = [(r["id"], r["caption"], str(sample_data_dir() / r["image"])) for r in load_sample_captions()
                if r.get("image")]
        return pd.DataFrame(rows, columns=["caption_id", "caption", "original"])
    curated = paths.curated_parquet
    if not curated.exists():
        raise MissingInput(f"{curated} not found (run 01_caption_curation first)")
    df = pd.read_parquet(curated)
    if "image" not in df.columns or df["image"].isna().all():
        raise MissingInput(f"{curated}: no 'image' column with original images")
    root = getattr(cfg.curation, "image_root", None)  # stage 01 writes absolute paths; older files may not
    base = (Path(root) if root else Path(cfg.curation.source).parent).expanduser().resolve()
    df = df[df["image"].notna()]
    original = [str(p) if Path(p).is_absolute() else str(base / p) for p in df["image"]]
    return pd.DataFrame({"caption_id": df["id"].astype(str), "caption": df["caption"], "original": original})


def synthetic_images(paths: RunPaths) -> pd.DataFrame:
    """``caption_id, synthetic, clip_score`` — per caption its best-scoring candidate (from
    ``selection/scores.parquet``), else its first generated image (``synthesis/manifest.parquet``)."""
    try:
        scores = load_scores(paths).sort_values(["caption_id", "score", "candidate"], ascending=[True, False, True])
        best = scores.drop_duplicates("caption_id")
        return pd.DataFrame({"caption_id": best["caption_id"].astype(str),
                             "synthetic": [str(resolve_image(paths, p)) for p in best["path"]],
                             "clip_score": best["clip_score"].astype(float)})
    except MissingInput:
        manifest = load_manifest(paths)
        ok = manifest[manifest["status"] == "ok"].sort_values(["caption_id", "candidate"]).drop_duplicates("caption_id")
        if ok.empty:
            raise MissingInput(f"{paths.synthesis_manifest}: no image with status ok") from None
        return pd.DataFrame({"caption_id": ok["caption_id"].astype(str),
                             "synthetic": [str(resolve_image(paths, p)) for p in ok["path"]],
                             "clip_score": float("nan")})


def preference_pairs(cfg: ProjectConfig, paths: RunPaths, limit: int | None = None) -> pd.DataFrame:
    """``pair_id, caption, synthetic, original`` (absolute image paths) for captions having both images;
    with ``limit``, a seeded random subset (same subset on every rerun), ordered by ``pair_id``."""
    originals = original_images(cfg, paths)
    synthetic = synthetic_images(paths)
    pairs = originals.merge(synthetic, on="caption_id").rename(columns={"caption_id": "pair_id"})
    on_disk = [Path(s).exists() and Path(o).exists() for s, o in zip(pairs["synthetic"], pairs["original"])]
    pairs = pairs[on_disk]
    if pairs.empty:
        raise MissingInput("no caption has both an original image and a generated image")
    if limit is not None and len(pairs) > limit:
        order = sorted(pairs["pair_id"], key=lambda i: item_seed(cfg.seed, i))[:limit]
        pairs = pairs[pairs["pair_id"].isin(order)]
    return pairs.sort_values("pair_id")[PAIR_COLUMNS + ["clip_score"]].reset_index(drop=True)
