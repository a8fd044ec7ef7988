"""t-SNE of CLIP text and image embeddings across datasets (paper appendix Fig. 2: 1k random pairs
each from SynthVLM-100K, LLaVA-558K, ShareCaptioner-1246K and CC12M; overlapping distributions)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from synthvlm_repro.conversation import first_gpt_turn
from synthvlm_repro.figures.artifacts import MissingInput
from synthvlm_repro.figures.pairs import item_seed


def llava_json_pairs(path: str | Path) -> pd.DataFrame:
    """``caption, image`` of a LLaVA-format JSON (caption = first ``gpt`` turn; images relative to its folder)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingInput(f"{path}: t-SNE dataset file not found")
    rows = []
    for i, rec in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        caption = first_gpt_turn(rec)
        if caption is None or not rec.get("image"):
            raise MissingInput(f"{path}: record {i} has no image or no gpt turn")
        rows.append({"id": str(rec.get("id", i)), "caption": caption, "image": str(path.parent / rec["image"])})
    return pd.DataFrame(rows)


def sample_rows(df: pd.DataFrame, n: int, seed: int, id_column: str = "id") -> pd.DataFrame:
    """``n`` rows picked by the seeded hash of their id (stable under reordering and reruns)."""
    if len(df) <= n:
        return df
    keys = df[id_column].astype(str).map(lambda i: item_seed(seed, f"tsne:{i}"))
    return df.loc[keys.sort_values(kind="stable").index[:n]]


def embed_datasets(encoder, datasets: dict[str, pd.DataFrame], n: int, seed: int) -> pd.DataFrame:
    """Image and text embeddings of up to ``n`` seeded pairs per dataset.

    Returns one row per (dataset, item, modality) with the embedding in column ``emb``.
    """
    rows = []
    for name, df in datasets.items():
        part = sample_rows(df, n, seed)
        img = encoder.encode_images(list(part["image"]), desc=f"CLIP {name}")
        txt = encoder.encode_texts(list(part["caption"]))
        for modality, emb in (("image", img), ("text", txt)):
            rows += [{"dataset": name, "id": i, "modality": modality, "emb": e} for i, e in zip(part["id"], emb)]
    return pd.DataFrame(rows)


def tsne_2d(embeddings: np.ndarray, seed: int, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn's t-SNE (PCA init, seeded); perplexity capped at (n-1)/3 for small samples."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise MissingInput("scikit-learn is not installed (pip install scikit-learn)") from None
    n = len(embeddings)
    if n < 5:
        raise MissingInput(f"t-SNE needs at least 5 points per modality, got {n}")
    perplexity = min(perplexity, (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    if n >= 5000:
        return tsne.fit_transform(np.asarray(embeddings, dtype=np.float64))
    # Small problems: one OpenMP thread. More threads only spin-wait here, and on a busy shared
    # machine that made 80 points take 8-24 s instead of 0.5 s.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        return tsne.fit_transform(np.asarray(embeddings, dtype=np.float64))


def tsne_coordinates(embedded: pd.DataFrame, seed: int, perplexity: float = 30.0) -> pd.DataFrame:
    """``dataset, id, modality, x, y``: a separate t-SNE per modality, as in the paper's two panels."""
    parts = []
    for modality, group in embedded.groupby("modality", sort=True):
        xy = tsne_2d(np.stack(group["emb"].to_list()), seed, perplexity)
        parts.append(group.drop(columns="emb").assign(x=xy[:, 0], y=xy[:, 1]))
    return pd.concat(parts, ignore_index=True)
