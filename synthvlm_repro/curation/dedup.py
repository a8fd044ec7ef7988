"""Exact and near-duplicate captions. In each duplicate group the earliest caption (source order) is kept,
so the result does not depend on chunking or process count.

Near-duplicates are found with MinHash-LSH, computed here with numpy over batches of captions instead of one
``datasketch.MinHash`` object per caption (3.8K captions/s and ~3.2 KB resident per caption). The MinHash
values are ``datasketch`` 2.x's default ``affine32`` scheme bit for bit: SHA-1's first four bytes of each
shingle, the MurmurHash3 32-bit finaliser, then ``a * h + b`` mod 2**32 with ``a, b`` drawn from
``numpy.random.RandomState(seed)`` in datasketch's order. Bands and rows come from datasketch's own
parameter search (:func:`lsh_params`), so the kept/dropped decisions are those of ``MinHashLSH`` by
construction (``tests/test_curation_dedup.py`` checks them against datasketch itself).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

_NON_WORD = re.compile(r"[\W_]+")
_digest = type(hashlib.sha1()).digest  # unbound, for map(): no Python frame per shingle
BATCH = 1024  # captions per signature batch (~10 MB of permuted hashes at 117 used permutations)


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


# --------------------------------------------------------------------------- MinHash signatures


@lru_cache(maxsize=None)
def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` as ``datasketch.MinHashLSH(threshold, num_perm)`` chooses them: the pair minimising
    the equally weighted false-positive + false-negative areas of the S-curve (scipy's ``quad``, as it does)."""
    from scipy.integrate import quad

    best, best_err = (0, 0), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]
            fn = quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]
            err = fp * 0.5 + fn * 0.5
            if err < best_err:
                best, best_err = (b, r), err
    if best[0] < 2:
        raise ValueError(f"near_dedup threshold {threshold} with {num_perm} permutations gives < 2 LSH bands")
    return best


@lru_cache(maxsize=None)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutation parameters ``(a, b)``: ``a`` odd, both uint32."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (uint32 arithmetic wraps, which is the intended mod 2**32)."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def minhash_signatures(captions: Sequence[str], num_perm: int = 128, ngram: int = 3, seed: int = 0,
                       width: int | None = None) -> np.ndarray:
    """MinHash values of the word shingles of each caption, shape ``(len(captions), width or num_perm)``,
    uint32; equal to ``datasketch.MinHash(num_perm, seed).update_batch(shingles(c))`` column for column.
    ``width`` keeps only the first columns (the ones LSH bands use)."""
    a, b = permutations(num_perm, seed)
    a, b = a[:width, None], b[:width, None]
    sha1, encode, join, split_words = hashlib.sha1, str.encode, " ".join, _NON_WORD.sub
    digests: list[bytes] = []
    extend = digests.extend
    starts = np.empty(len(captions), dtype=np.intp)
    for i, caption in enumerate(captions):  # shingles() inlined: this loop is most of the cost
        starts[i] = len(digests)
        words = split_words(" ", caption.lower()).split()
        grams = [join(words)] if len(words) <= ngram else map(join, zip(*[words[k:] for k in range(ngram)]))
        extend(map(_digest, map(sha1, map(encode, grams))))  # never empty: b"" at least
    if not captions:
        return np.empty((0, len(a)), dtype=np.uint32)
    # datasketch's sha1_hash32: the digest's first 4 bytes as a little-endian uint32 (a digest is 5 of them)
    hashed = np.frombuffer(b"".join(digests), dtype="<u4").reshape(-1, 5)[:, 0].astype(np.uint32)
    permuted = a * _fmix32(hashed)  # (width, shingles): the min over each caption's columns is contiguous
    permuted += b
    return np.minimum.reduceat(permuted, starts, axis=1).T


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per LSH band (shape ``(n, bands)``): a hash of the band's ``rows`` values. Equal bands
    give equal keys; unequal bands almost never do, and :func:`near_duplicates` re-checks the values."""
    keys = np.zeros((len(signatures), bands), dtype=np.uint64)
    sig = signatures.astype(np.uint64)
    for j in range(rows):
        keys = keys * np.uint64(0x100000001B3) + sig[:, j::rows][:, :bands] + np.uint64(j + 1)
        keys ^= keys >> np.uint64(29)
    return keys


def _signature_batch(job: tuple) -> np.ndarray:
    captions, num_perm, ngram, seed, bands, rows, keys_only = job
    values = minhash_signatures(captions, num_perm, ngram, seed, bands * rows)
    return band_keys(values, bands, rows) if keys_only else np.ascontiguousarray(values)


def _in_batches(captions: Sequence[str], params: tuple, keys_only: bool, num_proc: int, batch_size: int,
                bar: tqdm | None = None) -> np.ndarray:
    """Band keys (or the band values) of all ``captions``, batch by batch over ``num_proc`` processes."""
    from synthvlm_repro.curation.rules import map_ordered

    num_perm, ngram, seed, bands, rows = params
    out = np.empty((len(captions), bands if keys_only else bands * rows), dtype=np.uint64 if keys_only else np.uint32)
    jobs = ((captions[lo:lo + batch_size], *params, keys_only) for lo in range(0, len(captions), batch_size))
    num_proc = min(num_proc, -(-len(captions) // batch_size))  # no pool for a batch or two
    done = 0
    for _, part in map_ordered(_signature_batch, jobs, num_proc=num_proc):
        out[done:done + len(part)] = part
        done += len(part)
        if bar is not None:
            bar.update(len(part))
    return out


# --------------------------------------------------------------------------- LSH with the earliest-kept rule


def _band_groups(keys: np.ndarray) -> np.ndarray:
    """For each row, the first row with the same key (itself when it is the first)."""
    order = np.argsort(keys, kind="stable")  # equal keys stay in row order
    sorted_keys = keys[order]
    new_run = np.ones(len(keys), dtype=bool)
    new_run[1:] = sorted_keys[1:] != sorted_keys[:-1]
    run_first = order[np.flatnonzero(new_run)]
    groups = np.empty(len(keys), dtype=np.int64)
    groups[order] = run_first[np.cumsum(new_run) - 1]
    return groups


def _split_collisions(groups: np.ndarray, band_values: np.ndarray, members: np.ndarray, pos: np.ndarray) -> None:
    """Regroup, by exact band values, the 64-bit key groups whose members' bands differ (hash collisions).
    ``band_values[pos[row]]`` is the band of an involved ``row``; ``groups`` is updated in place."""
    firsts = groups[members]
    same = (band_values[pos[members]] == band_values[pos[firsts]]).all(axis=1)
    for group in np.unique(firsts[~same]):
        first_of_value: dict[bytes, int] = {}
        for row in np.flatnonzero(groups == group):  # rows in order
            groups[row] = first_of_value.setdefault(band_values[pos[row]].tobytes(), int(row))


def near_duplicates(ids: Sequence[str], captions: Sequence[str], threshold: float = 0.8, num_perm: int = 128,
                    ngram: int = 3, seed: int = 0, progress: bool = True, num_proc: int = 1,
                    batch_size: int = BATCH) -> list[str | None]:
    """For each caption, the id of the earliest earlier kept caption that ``datasketch.MinHashLSH(threshold,
    num_perm)`` returns as a candidate (same values in at least one band of the word-shingle MinHash), else
    ``None``.

    Like Data-Juicer's minhash deduplicator, LSH candidates are not re-verified; a caption marked as a
    duplicate is not inserted, so groups chain only through kept captions. Signatures are computed in
    batches over ``num_proc`` processes. Only one 64-bit key per band and caption comes back, then one
    int64 group id per band (about 0.25 KB resident per caption at 9 bands, against ~3.2 KB for one
    datasketch object per caption); signatures are recomputed only for captions that share a bucket.
    """
    n = len(captions)
    bands, rows = lsh_params(threshold, num_perm)
    params = (num_perm, ngram, seed, bands, rows)
    with tqdm(total=n, desc="near-dup", unit="caption", disable=not progress) as bar:
        keys = _in_batches(captions, params, True, num_proc, batch_size, bar)

    groups = np.empty((n, bands), dtype=np.int64)
    for k in range(bands):
        groups[:, k] = _band_groups(keys[:, k])
    del keys
    shared = groups != np.arange(n)[:, None]  # rows after the first of a band group
    linked = shared.copy()
    linked[groups[shared], np.nonzero(shared)[1]] = True  # ... and those first rows
    involved = np.flatnonzero(linked.any(axis=1))  # every other row is alone in all its buckets: kept

    # Exact check of the 64-bit keys: recompute the involved rows' signatures and split any collision.
    pos = np.full(n, -1, dtype=np.int64)
    pos[involved] = np.arange(len(involved))
    values = _in_batches([captions[i] for i in involved], params, False, num_proc, batch_size)
    for k in range(bands):
        members = np.flatnonzero(linked[:, k])
        if len(members):
            _split_collisions(groups[:, k], values[:, k * rows:(k + 1) * rows], members, pos)
    del values

    # Earliest-kept rule, in source order, over the involved rows only.
    out: list[str | None] = [None] * n
    first_kept: list[dict[int, int]] = [{} for _ in range(bands)]
    for row, row_groups in zip(involved.tolist(), groups[involved].tolist()):
        best = -1
        for table, group in zip(first_kept, row_groups):
            hit = table.get(group, -1)
            if hit >= 0 and (best < 0 or hit < best):
                best = hit
        if best >= 0:
            out[row] = ids[best]
        else:
            for table, group in zip(first_kept, row_groups):
                table[group] = row
    return out
