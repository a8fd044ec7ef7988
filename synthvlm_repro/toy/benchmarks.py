"""Benchmarks of the toy world in the file layouts of LLaVA's ``playground/data/eval`` (stage 05 reads them).

- ``gqa/llava_gqa_testdev_balanced.jsonl`` (``question_id, image, text``) + ``gqa/data/testdev_balanced_questions.json``
  (``{qid: {question, answer, imageId, types}}``) + ``gqa/data/images/``: one-word answers on colour, shape,
  size and position;
- ``pope/llava_pope_test.jsonl`` (``question_id, image, text, category``) +
  ``pope/coco/coco_pope_{adversarial,popular,random}.json`` (JSON lines with ``label``) + ``pope/val2014/``:
  "Is there a <colour> <shape> in the image?", half yes; the "no" objects differ in colour and shape
  (random), colour only (popular) or shape only (adversarial);
- ``mmbench/mmbench_dev_20230712.tsv``: lettered choices with base64 images, each question followed by
  its circular copies (options rotated, ``index + k * 1000000``), as the real dev TSV carries them.
Images are renders of scenes the models never trained on (their own id prefix).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from synthvlm_repro.atomic import write_json, write_text
from synthvlm_repro.toy.questions import choice_question, presence_question, short_question
from synthvlm_repro.toy.world import ATTRIBUTES, render, rng_for, sample_scene, scene_ids

BENCH_PREFIX = "bench"
POPE_SPLITS = ("adversarial", "popular", "random")
LETTERS = "ABCD"
CIRCULAR = 1_000_000


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def build_benchmarks(out: Path, spec: dict) -> None:
    ids = scene_ids(BENCH_PREFIX, spec["images"])
    scenes = {i: sample_scene(i) for i in ids}
    images = {i: render(scenes[i], i) for i in ids}
    _gqa(out / "gqa", ids, scenes, images)
    _pope(out / "pope", ids, scenes, images)
    _mmbench(out / "mmbench", ids, scenes, images)
    write_json(out / "attributes.json", {i: s.attributes() for i, s in scenes.items()})


def _gqa(d: Path, ids, scenes, images) -> None:
    (d / "data" / "images").mkdir(parents=True)  # LLaVA's gqa.sh layout: GQADIR=eval/gqa/data
    questions, truth = [], {}
    for n, item_id in enumerate(ids):
        images[item_id].save(d / "data" / "images" / f"{item_id}.png")
        for k, kind in enumerate(ATTRIBUTES):
            q, a = short_question(scenes[item_id], kind)
            qid = f"{n:05d}{k}"
            questions.append({"question_id": qid, "image": f"{item_id}.png", "text": q, "category": kind})
            truth[qid] = {"question": q, "answer": a, "imageId": item_id, "types": {"detailed": kind}}
    write_text(d / "llava_gqa_testdev_balanced.jsonl", _jsonl(questions))
    write_json(d / "data" / "testdev_balanced_questions.json", truth)


def _pope(d: Path, ids, scenes, images) -> None:
    (d / "val2014").mkdir(parents=True)
    (d / "coco").mkdir()
    questions, labelled = [], {s: [] for s in POPE_SPLITS}
    qid = 0
    for item_id in ids:
        images[item_id].save(d / "val2014" / f"{item_id}.png")
    for split in POPE_SPLITS:
        for item_id in ids:
            r = rng_for(item_id, f"pope-{split}")
            for yes in (True, False):
                qid += 1
                text, label = presence_question(scenes[item_id], r, yes, split)
                questions.append({"question_id": qid, "image": f"{item_id}.png", "text": text, "category": split})
                labelled[split].append({"question_id": qid, "image": f"{item_id}.png", "text": text, "label": label})
    write_text(d / "llava_pope_test.jsonl", _jsonl(questions))
    for split, rows in labelled.items():
        write_text(d / "coco" / f"coco_pope_{split}.json", _jsonl(rows))


def _b64(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _mmbench(d: Path, ids, scenes, images) -> None:
    import pandas as pd

    d.mkdir(parents=True)
    rows = []
    for n, item_id in enumerate(ids):
        r = rng_for(item_id, "mmbench")
        kind = tuple(ATTRIBUTES)[n % len(ATTRIBUTES)]
        question, options, right = choice_question(scenes[item_id], kind, r)
        image = _b64(images[item_id])
        for k in range(len(options)):  # the question, then its circular copies
            rotated = options[k:] + options[:k]
            row = {"index": n + k * CIRCULAR, "question": question, "hint": "",
                   **{LETTERS[i]: (rotated[i] if i < len(rotated) else "") for i in range(4)},
                   "answer": LETTERS[rotated.index(options[right])], "category": kind,
                   "l2-category": "attribute", "image": image, "source": "toy", "split": "dev"}
            rows.append(row)
    frame = pd.DataFrame(rows)
    tmp = d / ".mmbench.tsv.tmp"
    frame.to_csv(tmp, sep="\t", index=False)
    tmp.replace(d / "mmbench_dev_20230712.tsv")
