"""Exact and near-duplicate captions. In each duplicate group the earliest caption (source order) is kept,
so the result does not depend on chunking or process count."""

from __future__ import annotations

import hashlib
import re
from typing import Sequence

from tqdm.auto import tqdm

_NON_WORD = re.compile(r"[\W_]+")


def dedup_key(caption: str) -> str:
    """Lowercased words with punctuation and whitespace runs removed: "A dog!" and "a  dog" agree."""
    return " ".join(_NON_WORD.sub(" ", caption.lower()).split())


def exact_duplicates(ids: Sequence[str], captions: Sequence[str]) -> list[str | None]:
    """For each caption, the id of an earlier caption with the same :func:`dedup_key`, else ``None``."""
    first: dict[bytes, str] = {}
    out: list[str | None] = []
    for cid, caption in zip(ids, captions):
        digest = hashlib.blake2b(dedup_key(caption).encode("utf-8"), digest_size=16).digest()
        earlier = first.get(digest)
        if earlier is None:
            first[digest] = cid
        out.append(earlier)
    return out


def shingles(caption: str, n: int = 3) -> list[bytes]:
    """Word ``n``-gram shingles of the dedup key (the whole key when it has fewer than ``n`` words)."""
    words = dedup_key(caption).split()
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")]
    return [" ".join(words[i:i + n]).encode("utf-8") for i in range(len(words) - n + 1)]


def near_duplicates(ids: Sequence[str], captions: Sequence[str], threshold: float = 0.8, num_perm: int = 128,
                    ngram: int = 3, seed: int = 0, progress: bool = True) -> list[str | None]:
    """For each caption, the id of the earliest earlier caption whose MinHash-LSH candidate Jaccard
    similarity of word shingles reaches ``threshold`` (``datasketch``), else ``None``.

    Like Data-Juicer's minhash deduplicator, LSH candidates are not re-verified; a caption marked as a
    duplicate is not inserted, so groups chain only through kept captions.
    """
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    order: dict[str, int] = {}
    out: list[str | None] = []
    rows = tqdm(zip(ids, captions), total=len(ids), desc="near-dup", disable=not progress)
    for i, (cid, caption) in enumerate(rows):
        mh = MinHash(num_perm=num_perm, seed=seed)
        mh.update_batch(shingles(caption, ngram))
        hits = lsh.query(mh)
        if hits:
            out.append(min(hits, key=order.__getitem__))
            continue
        order[cid] = i
        lsh.insert(cid, mh)
        out.append(None)
    return out
