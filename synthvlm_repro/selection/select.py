"""The selection rule and the LLaVA pretraining set it produces.

Rule (paper.md §1.4): score = CLIPScore + λ·SSIM (plus any ``selection.extra_scores``, see
:func:`~synthvlm_repro.selection.scorer.combined_score`); keep the best candidate of each caption (the
official best-of-``repeat``); rank globally and keep the top K (or top fraction). λ = 0 is the official
CLIP-only rule. Ties are broken by (caption_id, candidate). ``strategy="random"`` ranks by a seeded
per-pair hash instead: the ablation's random subset of the same size.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd

from synthvlm_repro.atomic import write_json, write_parquet
from synthvlm_repro.path_policy import resolve_within
from synthvlm_repro.selection.instructions import brief_instruction
from synthvlm_repro.selection.scorer import combined_score, score_weights

SYNTHESIS_IMAGES = "synthesis/images"


def _hash_key(seed: int, caption_id: str, candidate: int) -> int:
    digest = hashlib.sha256(f"{seed}\x1f{caption_id}\x1f{candidate}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def keep_count(n: int, top_k: int | None, top_fraction: float | None) -> int:
    """How many pairs to keep out of ``n`` eligible ones."""
    if top_k is not None:
        return min(top_k, n)
    if top_fraction is not None:
        return int(n * top_fraction)  # the official int(N * select_radio)
    return n


def select_pairs(scores: pd.DataFrame, weights=0.5, strategy: str = "score",
                 best_per_caption: bool = True, top_k: int | None = None, top_fraction: float | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """The selected rows (readable images only) with ``score`` recomputed for ``weights`` (a mapping
    column → weight, or the paper's λ) and ``rank`` 1..K."""
    df = scores[scores["status"] == "ok"].copy()
    df["score"] = combined_score(df, weights)
    if strategy == "score":
        order = df.sort_values(["score", "caption_id", "candidate"], ascending=[False, True, True], kind="stable")
    elif strategy == "random":
        df["_key"] = [_hash_key(seed, c, k) for c, k in zip(df["caption_id"], df["candidate"])]
        order = df.sort_values(["_key", "caption_id", "candidate"], kind="stable").drop(columns="_key")
    else:
        raise ValueError(f"selection.strategy {strategy!r}: expected 'score' or 'random'")
    if best_per_caption:
        order = order.drop_duplicates("caption_id", keep="first")
    kept = order.head(keep_count(len(order), top_k, top_fraction)).reset_index(drop=True)
    kept["rank"] = range(1, len(kept) + 1)
    return kept


def llava_image_name(path: str) -> str:
    """Where an image goes under ``selection/images/``: its path below ``synthesis/images/``."""
    p = Path(path)
    try:
        return p.relative_to(SYNTHESIS_IMAGES).as_posix()
    except ValueError:
        return p.name


def pair_id(row, best_per_caption: bool) -> str:
    """The caption id when there is one pair per caption, else ``<caption_id>_<candidate>``."""
    return str(row.caption_id) if best_per_caption else f"{row.caption_id}_{row.candidate}"


def llava_records(selected: pd.DataFrame, seed: int, best_per_caption: bool = True) -> list[dict]:
    """LLaVA's pretrain format: ``{id, image, conversations}`` with a seeded brief-description instruction."""
    records = []
    for row in selected.itertuples():
        pid = pair_id(row, best_per_caption)
        records.append({
            "id": pid,
            "image": llava_image_name(row.path),
            "conversations": [
                {"from": "human", "value": brief_instruction(pid, seed) + "\n<image>"},
                {"from": "gpt", "value": row.caption},
            ],
        })
    return records


def _place(src: Path, dst: Path, mode: str) -> None:
    """Put ``src`` at ``dst`` (hardlink, symlink or copy); a rerun leaves an identical entry alone."""
    if dst.exists() or dst.is_symlink():
        if dst.exists() and (os.path.samefile(src, dst) or
                             (mode == "copy" and dst.stat().st_size == src.stat().st_size
                              and dst.stat().st_mtime >= src.stat().st_mtime)):
            return
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "hardlink":
        try:
            os.link(src, dst)
            return
        except OSError:  # another filesystem, or links not allowed: fall back to a copy
            pass
    if mode == "symlink":
        dst.symlink_to(src.resolve())
        return
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def export_llava(selected: pd.DataFrame, run_root: Path, image_folder: Path, json_path: Path, seed: int,
                 best_per_caption: bool = True, image_link: str = "hardlink") -> list[dict]:
    """Fill ``image_folder`` with the selected images (stale ones removed) and write the LLaVA JSON.

    Each source path must lie inside ``run_root`` and each target inside ``image_folder``
    (:func:`~synthvlm_repro.path_policy.resolve_within`); otherwise a one-line error before anything is placed.
    """
    records = llava_records(selected, seed, best_per_caption)
    moves = []
    for row, rec in zip(selected.itertuples(), records):
        where = f"selected pair {row.caption_id!r} #{row.candidate}"
        moves.append((resolve_within(run_root, row.path, what=f"{where}: path"),
                      resolve_within(image_folder, rec["image"], what=f"{where}: image name")))
    for src, dst in moves:
        _place(src, dst, image_link)
    write_json(json_path, records)
    wanted = {image_folder / r["image"] for r in records}  # stale images go only once the new JSON is in place
    for existing in [p for p in image_folder.rglob("*") if p.is_file() or p.is_symlink()]:
        if existing not in wanted:
            existing.unlink()
    return records


def run_selection(ctx, scores: pd.DataFrame) -> pd.DataFrame:
    """Apply the profile's rule to ``scores``; write ``selected.parquet``, the LLaVA JSON and image folder."""
    cfg = ctx.cfg.selection
    selected = select_pairs(scores, score_weights(cfg), cfg.strategy, cfg.best_per_caption, cfg.top_k,
                            cfg.top_fraction, ctx.cfg.seed)
    write_parquet(ctx.paths.selected_parquet, selected)
    export_llava(selected, ctx.paths.root, ctx.paths.llava_image_folder, ctx.paths.llava_pretrain_json,
                 ctx.cfg.seed, cfg.best_per_caption, cfg.image_link)
    return selected
