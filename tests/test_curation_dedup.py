"""Near-dedup: the numpy MinHash-LSH gives datasketch's MinHash values and MinHashLSH's earliest-kept
decisions, caption for caption (the reference below is the kit's former one-MinHash-per-caption code)."""

import json
import sys

import numpy as np
import pytest

from synthvlm_repro.curation import dedup
from synthvlm_repro.curation.dedup import exact_duplicates, lsh_params, minhash_signatures, near_duplicates, shingles

datasketch = pytest.importorskip("datasketch")


def datasketch_near_duplicates(ids, captions, threshold=0.8, num_perm=128, ngram=3, seed=0):
    """The former implementation: one datasketch MinHash per caption, query then insert the kept ones."""
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
    order, out = {}, []
    for i, (cid, caption) in enumerate(zip(ids, captions)):
        mh = datasketch.MinHash(num_perm=num_perm, seed=seed)
        mh.update_batch(shingles(caption, ngram))
        hits = lsh.query(mh)
        if hits:
            out.append(min(hits, key=order.__getitem__))
            continue
        order[cid] = i
        lsh.insert(cid, mh)
        out.append(None)
    return out


@pytest.fixture(scope="module")
def sample(project_root):
    rows = json.loads((project_root / "synthvlm_repro/sample_data/captions.json").read_text())
    return [r["id"] for r in rows], [r["caption"] for r in rows]


def generated(project_root, n):
    sys.path.insert(0, str(project_root / "bench"))
    try:
        from curation_bench import generate
    finally:
        sys.path.pop(0)
    captions = generate(n)
    return [f"c{i:08d}" for i in range(n)], captions


def test_signatures_equal_datasketch_minhash(sample, project_root):
    captions = sample[1] + ["", "!!!", "one", "two words", "a b c", "Ünïcode café — naïve 猫 🐱"]
    for seed, num_perm in ((0, 128), (7, 64)):
        ours = minhash_signatures(captions, num_perm, 3, seed)
        for caption, row in zip(captions, ours):
            mh = datasketch.MinHash(num_perm=num_perm, seed=seed)
            mh.update_batch(shingles(caption, 3))
            assert np.array_equal(mh.hashvalues, row), caption
    assert np.array_equal(minhash_signatures(captions, 128, 3, 0, width=40), minhash_signatures(captions, 128)[:, :40])


@pytest.mark.parametrize("threshold, num_perm", [(0.8, 128), (0.5, 128), (0.7, 64), (0.9, 256)])
def test_lsh_params_equal_datasketch(threshold, num_perm):
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert lsh_params(threshold, num_perm) == (lsh.b, lsh.r)


@pytest.mark.parametrize("threshold, num_proc", [(0.8, 1), (0.5, 2), (0.3, 1)])
def test_decisions_equal_datasketch_on_the_sample(sample, threshold, num_proc):
    ids, captions = sample
    captions = captions + [c.upper() + "!" for c in captions[::9]] + [c + " today" for c in captions[::5]]
    ids = ids + [f"extra-{i}" for i in range(len(captions) - len(ids))]
    expected = datasketch_near_duplicates(ids, captions, threshold)
    assert sum(d is not None for d in expected) > 20  # the check has duplicates to agree on
    assert near_duplicates(ids, captions, threshold, progress=False, num_proc=num_proc, batch_size=64) == expected


def test_band_key_collisions_are_resolved_exactly(sample, monkeypatch):
    """Force 64-bit band-key collisions (keys mod 5): the exact re-check must still give datasketch's decisions."""
    ids, captions = sample
    real = dedup.band_keys
    monkeypatch.setattr(dedup, "band_keys", lambda sig, b, r: real(sig, b, r) % np.uint64(5))
    assert near_duplicates(ids, captions, 0.5, progress=False) == datasketch_near_duplicates(ids, captions, 0.5)


@pytest.mark.slow
def test_decisions_equal_datasketch_on_100k_generated(project_root):
    """The bench's generator after exact dedup (as the pipeline runs it); about 40 s, most of it datasketch."""
    ids, captions = generated(project_root, 100_000)
    exact = exact_duplicates(ids, captions)
    ids = [i for i, d in zip(ids, exact) if d is None]
    captions = [c for c, d in zip(captions, exact) if d is None]
    expected = datasketch_near_duplicates(ids, captions)
    assert sum(d is not None for d in expected) > 1000
    assert near_duplicates(ids, captions, progress=False, num_proc=2) == expected
