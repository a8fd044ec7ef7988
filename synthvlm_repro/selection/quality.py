"""Data-quality report: CLIPScore, SSIM and the weighted score of the candidates, the selected set and
any real image–caption dataset, next to the paper's data-quality table (paper.md §3.1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from synthvlm_repro.atomic import read_json, write_parquet
from synthvlm_repro.conversation import first_gpt_turn
from synthvlm_repro.path_policy import PathPolicyError, resolve_within
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.selection.scorer import as_weights, combined_score

#: The paper's table in ``figures/reference_numbers.yaml`` (the one place its numbers are written down).
PAPER_TABLE = "data_quality"


def paper_quality() -> pd.DataFrame:
    """The paper's data-quality rows (paper.md §3.1): ``dataset, clip_score, ssim, weighted, source``.

    Read from ``reference_numbers.yaml``; a value the paper does not print (e.g. COCO's weighted score)
    is NaN, never computed here.
    """
    from synthvlm_repro.figures.reference import reference_rows

    tidy = reference_rows(PAPER_TABLE)
    wide = tidy.pivot(index="row", columns="column", values="value").reindex(list(dict.fromkeys(tidy["row"])))
    sources = tidy.groupby("row")["source"].agg(lambda s: "/".join(sorted({x for x in s if x})))
    return pd.DataFrame({"dataset": wide.index, "clip_score": wide["clip_score"].to_numpy(),
                         "ssim": wide["ssim"].to_numpy(), "weighted": wide["weighted"].to_numpy(),
                         "source": sources.reindex(wide.index).to_numpy()})


def summarize(df: pd.DataFrame, weights) -> dict:
    """Counts and mean/median of every score column and of the combined score (``weighted``) over the
    readable pairs. ``weights``: a mapping column → weight, or the paper's λ.

    ``blank`` counts near-constant images (left out of the means); ``unreadable`` every other unscored row.
    """
    ok = df[df["status"] == "ok"]
    blank = int((df["status"] == "blank").sum())
    out = {"n": len(ok), "blank": blank, "unreadable": int(len(df) - len(ok) - blank)}
    columns = {c: ok[c] for c in as_weights(weights)}
    columns["weighted"] = combined_score(ok, weights)
    for name, col in columns.items():
        out[f"{name}_mean"] = float(col.mean()) if len(ok) else float("nan")
        out[f"{name}_median"] = float(col.median()) if len(ok) else float("nan")
    return out


def quality_table(sets: dict[str, pd.DataFrame], weights) -> pd.DataFrame:
    """One row per scored set (``source`` = this run) followed by the paper's rows (``source`` = paper §3.1
    with the source tags of its numbers)."""
    ours = [{"dataset": name, "source": "this run", **summarize(df, weights)} for name, df in sets.items()]
    paper = [{"dataset": r.dataset, "source": f"paper §3.1 [{r.source}]", "clip_score_mean": r.clip_score,
              "ssim_mean": r.ssim, "weighted_mean": r.weighted} for r in paper_quality().itertuples()]
    cols = ["dataset", "source", "n", "blank", "unreadable"]
    cols += [f"{c}_{stat}" for c in [*as_weights(weights), "weighted"] for stat in ("mean", "median")]
    table = pd.DataFrame(ours + paper).reindex(columns=cols)
    return table.astype({"n": "Int64", "blank": "Int64", "unreadable": "Int64"})


# --------------------------------------------------------------------------- real datasets


def _sample(rows: list[dict], limit: int | None, seed: int) -> list[dict]:
    """A seeded sample of ``limit`` rows chosen by a hash of each id (independent of file order)."""
    if limit is None or len(rows) <= limit:
        return rows
    key = lambda r: hashlib.sha256(f"{seed}\x1fquality\x1f{r['caption_id']}".encode()).digest()  # noqa: E731
    return sorted(rows, key=key)[:limit]


def load_pairs(path: str | Path, image_dir: str | Path | None = None, limit: int | None = None,
               seed: int = 0) -> pd.DataFrame:
    """Image–caption pairs of a real dataset, in the scorer's row format with absolute image paths.

    Reads LLaVA's JSON (``[{id, image, conversations}]``, caption = first ``gpt`` turn), COCO captions
    (``{images, annotations}``, the first caption of each image) or SynthVLM's ``[{id, caption, image}]``.
    ``image_dir`` defaults to the JSON's folder. ``path="sample"`` is the kit's sample captions with drawn images.
    """
    if str(path) == "sample":
        from synthvlm_repro.sample_data import sample_captions_path, sample_data_dir

        path, image_dir = sample_captions_path(), image_dir or sample_data_dir()
    path = Path(path)
    image_dir = Path(image_dir) if image_dir else path.parent
    data = read_json(path, missing="quality dataset not found", missing_error=FileNotFoundError)
    rows = []
    if isinstance(data, dict) and {"images", "annotations"} <= data.keys():
        files = {img["id"]: img["file_name"] for img in data["images"]}
        seen = set()
        for ann in sorted(data["annotations"], key=lambda a: a.get("id", 0)):
            if ann["image_id"] in seen or ann["image_id"] not in files:
                continue
            seen.add(ann["image_id"])
            rows.append({"caption_id": str(ann["image_id"]), "caption": ann["caption"].strip(),
                         "image": files[ann["image_id"]]})
    elif isinstance(data, list):
        for i, rec in enumerate(data):
            if not isinstance(rec, dict):
                raise ValueError(f"{path}: row {i}: expected an object (LLaVA or SynthVLM format)")
            if "image" not in rec:  # text-only rows (as in LLaVA's SFT mix) have nothing to score
                continue
            if "conversations" in rec:
                caption = first_gpt_turn(rec)
            else:
                caption = rec.get("caption")
            if not isinstance(caption, str):
                raise ValueError(f"{path}: row {i}: no caption (a 'gpt' turn or a 'caption' field)")
            rows.append({"caption_id": str(rec.get("id", i)), "caption": caption.strip(), "image": rec["image"]})
    else:
        raise ValueError(f"{path}: expected LLaVA JSON (a list) or COCO captions ({{images, annotations}})")
    if not rows:
        raise ValueError(f"{path}: no image-caption pairs (no row has an 'image')")
    rows = _sample(rows, limit, seed)
    df = pd.DataFrame(rows, columns=["caption_id", "caption", "image"])
    df = df.drop_duplicates("caption_id").sort_values("caption_id", kind="stable").reset_index(drop=True)
    paths, statuses, errors = [], [], []
    for cid, image in zip(df["caption_id"], df["image"]):  # paths from the JSON stay inside image_dir
        try:
            paths.append(str(resolve_within(image_dir, image, what=f"{path.name}: id {cid}: image")))
            statuses.append("ok"), errors.append("")
        except PathPolicyError as e:
            paths.append(None if not isinstance(image, str) else image)
            statuses.append("missing" if not isinstance(image, str) or not image.strip() else "refused")
            errors.append(str(e))
    return pd.DataFrame({"caption_id": df["caption_id"], "candidate": 0, "caption": df["caption"],
                         "path": paths, "status": statuses, "error": errors})


def score_dataset(ctx, path: str | Path, image_dir: str | Path | None = None, name: str | None = None,
                  progress: bool = True) -> pd.DataFrame:
    """Score a real dataset exactly as the candidates (resumable); writes ``selection/quality/<name>.parquet``."""
    from synthvlm_repro.selection.scorer import score_weights
    from synthvlm_repro.selection.scoring import merge_scores, score_rows, settings_fingerprint

    cfg = ctx.cfg.selection
    rows = load_pairs(path, image_dir, cfg.quality_limit, ctx.cfg.seed)
    name = name or ("sample images" if str(path) == "sample" else Path(path).stem)
    fingerprint, _ = settings_fingerprint(cfg)
    parts_dir = ctx.paths.quality_parts_dir(name, fingerprint)
    score_rows(rows, None, cfg, ctx.device, parts_dir, Shard(), progress=progress)
    scores = merge_scores(rows, parts_dir, score_weights(cfg))
    write_parquet(ctx.paths.quality_scores_parquet(name), scores)
    return scores
