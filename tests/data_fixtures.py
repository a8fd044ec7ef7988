"""Builders for the data tests: a Hugging Face cache in its real on-disk layout, and a small data tree in the
layout ``synthvlm-repro data check`` expects (real JPEGs, real parquet, a real SentencePiece model)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

from PIL import Image

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def populate_hf_cache(hub_cache: Path, repo_id: str, files: dict[str, bytes], repo_type: str = "dataset",
                      lfs: bool = True) -> Path:
    """Write ``files`` as huggingface_hub stores them: ``blobs/<etag>`` (sha256 for LFS files, git's blob
    sha1 otherwise), ``snapshots/<commit>/<name>`` as relative symlinks to the blobs, ``refs/main``."""
    repo = hub_cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        etag = hashlib.sha256(data).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        blob = repo / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        pointer = repo / "snapshots" / COMMIT / name
        pointer.parent.mkdir(parents=True, exist_ok=True)
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    return repo


def jpeg_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), ((37 * seed) % 256, (91 * seed) % 256, 120)).save(buf, "JPEG")
    return buf.getvalue()


def pretrain_rows(n: int = 3) -> list[dict]:
    return [{"id": f"{i:09d}", "image": f"00000/{i:09d}.jpg",
             "conversations": [{"from": "human", "value": "Describe the image.\n<image>"},
                               {"from": "gpt", "value": f"a small square number {i}"}]} for i in range(n)]


def images_zip(rows: list[dict], wrap: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, row in enumerate(rows):
            zf.writestr(wrap + row["image"], jpeg_bytes(i))
    return buf.getvalue()


def mmlu_parquet(split: str) -> bytes:
    """cais/mmlu's ``all/<split>`` schema: question, subject, choices (4), answer (0-3); 57 subjects."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from synthvlm_repro.evaluation.mmlu_subjects import MMLU_SUBJECTS

    n = 5 if split == "dev" else 1
    rows = [{"question": f"{s} question {k}, with a comma", "subject": s, "choices": ["1", "2", "3", "4"],
             "answer": (i + k) % 4} for i, s in enumerate(MMLU_SUBJECTS) for k in range(n)]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def hf_cache_with_hub_sources(hub_cache: Path) -> None:
    """The hub entries of the registry the tests fetch: LLaVA-Pretrain (json + images.zip), cais/mmlu."""
    rows = pretrain_rows()
    populate_hf_cache(hub_cache, "liuhaotian/LLaVA-Pretrain",
                      {"blip_laion_cc_sbu_558k.json": json.dumps(rows).encode(), "images.zip": images_zip(rows)})
    populate_hf_cache(hub_cache, "cais/mmlu", {"all/dev-00000-of-00001.parquet": mmlu_parquet("dev"),
                                               "all/test-00000-of-00001.parquet": mmlu_parquet("test")})


INSTRUCT_IMAGES = ("coco/train2017/000000000009.jpg", "coco/train2017/000000000025.jpg",
                   "gqa/images/2354786.jpg", "ocr_vqa/images/140031996.jpg",
                   "textvqa/train_images/0054c91397f2fe05.jpg", "vg/VG_100K/1.jpg", "vg/VG_100K_2/2.jpg")


def write_data_tree(root: Path) -> Path:
    """Every registry entry present in miniature under ``root`` (the layout `data check` expects)."""
    from synthvlm_repro.evaluation.fixtures import write_fixtures, write_mmlu

    rows = pretrain_rows()
    (root / "LLaVA-Pretrain").mkdir(parents=True)
    (root / "LLaVA-Pretrain" / "blip_laion_cc_sbu_558k.json").write_text(json.dumps(rows))
    for i, row in enumerate(rows):
        path = root / "LLaVA-Pretrain" / "images" / row["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(i))
    mix = [{"id": str(i), "image": rel, "conversations": [{"from": "human", "value": "<image>\nWhat is it?"},
                                                          {"from": "gpt", "value": "A square."}]}
           for i, rel in enumerate(INSTRUCT_IMAGES)]
    mix.append({"id": "text-only", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]})
    (root / "llava_v1_5_mix665k.json").write_text(json.dumps(mix))
    for i, rel in enumerate(INSTRUCT_IMAGES):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(jpeg_bytes(i))
    write_fixtures(root / "eval", mmlu=False)
    write_mmlu(root)
    write_kenlm_files(root / "datajuicer")
    return root


def write_kenlm_files(folder: Path) -> None:
    """A unigram ARPA file (KenLM reads ARPA as well as its binary) and a real SentencePiece model."""
    import pytest

    sentencepiece = pytest.importorskip("sentencepiece")  # the kenlm extra

    folder.mkdir(parents=True, exist_ok=True)
    words = ["<unk>", "<s>", "</s>", "a", "square"]
    arpa = ["\\data\\", f"ngram 1={len(words)}", "", "\\1-grams:"] + [f"-0.69897\t{w}" for w in words] + ["", "\\end\\"]
    (folder / "en.arpa.bin").write_text("\n".join(arpa) + "\n")
    text = [f"a small square number {i} next to a round circle of colour {c}" for i in range(40)
            for c in ("red", "green", "blue")]
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(text), model_prefix=str(folder / "en.sp"),
                                             vocab_size=40, model_type="unigram", minloglevel=2, num_threads=1)
