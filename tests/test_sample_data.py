"""Checks on the shipped sample captions and images."""

from __future__ import annotations

from collections import Counter

from PIL import Image

from synthvlm_repro.sample_data import (
    BAD_CATEGORIES,
    expected_bad_ids,
    load_sample_captions,
    sample_data_dir,
)
from synthvlm_repro.sample_data.draw_images import IMAGES, draw_all


def test_caption_count_and_ids():
    caps = load_sample_captions()
    assert len(caps) >= 200
    ids = [c["id"] for c in caps]
    assert all(isinstance(i, str) and i.strip() for i in ids)
    assert len(set(ids)) == len(ids)
    assert all(isinstance(c["caption"], str) and c["caption"] for c in caps)


def test_image_paths_exist_and_open():
    caps = [c for c in load_sample_captions() if "image" in c]
    assert len(caps) == len(IMAGES)
    for c in caps:
        path = sample_data_dir() / c["image"]
        assert path.is_file(), path
        with Image.open(path) as img:
            img.verify()


def test_bad_categories_covered():
    bad = expected_bad_ids()
    ids = {c["id"] for c in load_sample_captions()}
    assert set(bad) <= ids
    counts = Counter(bad.values())
    assert set(counts) == set(BAD_CATEGORIES)
    assert all(n >= 2 for n in counts.values()), counts


def test_duplicates_match_earlier_captions():
    caps = load_sample_captions()
    bad = expected_bad_ids()
    seen: list[str] = []
    for c in caps:
        kind = bad.get(c["id"])
        if kind == "exact_duplicate":
            assert c["caption"] in seen
        elif kind == "near_duplicate":
            words = c["caption"].split()
            assert any(
                len(s.split()) == len(words)
                and sum(a != b for a, b in zip(s.split(), words)) == 1
                for s in seen
            )
        seen.append(c["caption"])


def test_images_are_deterministic(tmp_path):
    committed = sample_data_dir() / "images"
    for path in draw_all(tmp_path):
        assert path.read_bytes() == (committed / path.name).read_bytes(), path.name
