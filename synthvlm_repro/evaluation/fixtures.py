"""Tiny benchmark sets in the real file layouts, drawn with PIL, for smoke runs and tests.

Every benchmark of :mod:`synthvlm_repro.evaluation.benchmarks` gets a handful of questions with the
real files' names, fields and id semantics under LLaVA's ``playground/data/eval`` tree (TextVQA
question ids that are image ids, MMBench circular copies, POPE ids restarting per label file, ...),
plus a Hendrycks-layout MMLU set (all 57 subjects, five dev shots each). The content is fixed, so
the files are identical on every run. Images are deliberately not square, so LLaVA's pad-to-square
path is exercised. Fields the kit's scorers do not read are filled with plausible values.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

from PIL import Image, ImageDraw

from synthvlm_repro.atomic import atomic_open, atomic_path, write_json, write_text
from synthvlm_repro.evaluation.mmlu_subjects import MMLU_SUBJECTS
from synthvlm_repro.evaluation.prompting import SHORT_ANSWER

LAYOUT_MARK = "layout: real-2"  # in README.txt; older fixture folders (other layouts) are rewritten
COLORS = {"red": (220, 30, 30), "blue": (30, 60, 220), "green": (30, 170, 60), "yellow": (240, 210, 20)}


def draw_image(shape: str, color: str, count: int = 1, text: str | None = None, size=(80, 56)) -> Image.Image:
    """``count`` shapes (circle/square/triangle) of one colour on white, optionally a line of text."""
    im = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(im)
    w, h = size
    step = w // (count + 1)
    for i in range(count):
        cx, cy, r = step * (i + 1), h // 2, min(step, h) // 3
        box = (cx - r, cy - r, cx + r, cy + r)
        if shape == "circle":
            d.ellipse(box, fill=COLORS[color])
        elif shape == "square":
            d.rectangle(box, fill=COLORS[color])
        else:
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=COLORS[color])
    if text:
        d.text((4, 2), text, fill=(0, 0, 0))
    return im


def _save(im: Image.Image, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        im.save(tmp, format="JPEG" if path.suffix == ".jpg" else "PNG")
    return path.name


def _jsonl(path: Path, rows: list[dict]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)


def write_gqa(root: Path) -> None:
    """``gqa/llava_gqa_testdev_balanced.jsonl`` + GQA's own files under ``gqa/data/`` (images,
    ``testdev_balanced_questions.json`` with the fields GQA's ``eval.py`` reads)."""
    d = root / "gqa"
    items = [("201307251", "circle", "red", "What color is the circle?", "red", "query"),
             ("201307252", "square", "blue", "What shape is shown?", "square", "query"),
             ("201307253", "triangle", "green", "Is the shape green?", "yes", "verify"),
             ("201307254", "circle", "yellow", "Is the circle blue?", "no", "verify")]
    questions, truth = [], {}
    for qid, shape, color, q, a, structural in items:
        image_id = f"n{qid[-4:]}"
        image = _save(draw_image(shape, color), d / "data" / "images" / f"{image_id}.jpg")
        questions.append({"question_id": qid, "image": image, "text": f"{q}\n{SHORT_ANSWER}"})
        truth[qid] = {"question": q, "answer": a, "fullAnswer": f"The answer is {a}.", "imageId": image_id,
                      "isBalanced": True, "groups": {"global": None if structural == "verify" else shape,
                                                     "local": f"10q-{shape}"},
                      "types": {"structural": structural, "semantic": "attr", "detailed": f"{structural}Attr"},
                      "semantic": [{"operation": "select", "argument": f"{shape} (0)", "dependencies": []},
                                   {"operation": "query" if structural == "query" else "verify color",
                                    "argument": "color", "dependencies": [0]}],
                      "semanticStr": f"select: {shape} (0)->query: color [0]", "annotations": {
                          "question": {}, "answer": {}, "fullAnswer": {}}, "entailed": [], "equivalent": [qid]}
    _jsonl(d / "llava_gqa_testdev_balanced.jsonl", questions)
    write_json(d / "data" / "testdev_balanced_questions.json", truth)


def write_scienceqa(root: Path) -> None:
    """``llava_test_CQM-A.json`` (only image problems carry ``image``), ScienceQA's ``problems.json`` and
    ``pid_splits.json``; images at ``images/test/<pid>/image.png``."""
    d = root / "scienceqa"
    items = [("101", "circle", "red", "Which color is the shape?", ["blue", "red", "green"], 1),
             ("102", "square", "green", "Which shape is shown?", ["square", "circle"], 0),
             ("103", "triangle", "blue", "How many shapes are there?", ["two", "three", "one", "four"], 2),
             ("104", None, None, "Which is a mammal?", ["trout", "dog"], 1)]
    problems, llava = {}, []
    for pid, shape, color, q, choices, answer in items:
        opts = "\n".join(f"{'ABCDE'[i]}. {c}" for i, c in enumerate(choices))
        row = {"id": pid, "conversations": [
            {"from": "human", "value": ("<image>\n" if shape else "") + f"Context: N/A\n{q}\n{opts}"},
            {"from": "gpt", "value": "ABCDE"[answer]}]}
        problems[pid] = {"question": q, "choices": choices, "answer": answer, "hint": "", "image":
                         "image.png" if shape else None, "task": "closed choice", "grade": "grade2",
                         "subject": "natural science", "topic": "shapes", "category": "Colors and shapes",
                         "skill": "Identify shapes", "lecture": "", "solution": "", "split": "test"}
        if shape:
            _save(draw_image(shape, color), d / "images" / "test" / pid / "image.png")
            row["image"] = f"{pid}/image.png"
        llava.append(row)
    write_json(d / "llava_test_CQM-A.json", llava)
    write_json(d / "problems.json", problems)
    write_json(d / "pid_splits.json", {"train": [], "val": [], "test": [i[0] for i in items]})


def write_textvqa(root: Path) -> None:
    """LLaVA's ``llava_textvqa_val_v051_ocr.jsonl``, whose ``question_id`` is the *image* id (two questions
    share an image here), and TextVQA's ``TextVQA_0.5.1_val.json`` (numeric question ids, 10 answers)."""
    d = root / "textvqa"
    items = [("0054c91397f2fe05", 34602, "STOP", "What does the sign say?", ["stop"] * 8 + ["stop sign", "STOP!"]),
             ("0054c91397f2fe05", 34603, "STOP", "What Color is the sign?", ["yellow"] * 7 + ["gold"] * 3),
             ("00685bc495504d61", 34604, "CAFE 24", "What number is written?",
              ["24"] * 5 + ["twenty four", "24 hours"] + ["24"] * 3),
             ("00a8a7bd3b7a2ec1", 34605, "OPEN", "Is the shop open or closed?", ["open"] * 2 + ["closed"] * 8)]
    questions, data = [], []
    for image_id, qid, text, q, answers in items:
        image = _save(draw_image("square", "yellow", text=text), d / "train_images" / f"{image_id}.jpg")
        tokens = text.split()
        questions.append({"question_id": image_id, "image": image,
                          "text": f"{q.lower()}\nReference OCR token: {', '.join(tokens)}\n{SHORT_ANSWER}"})
        data.append({"question": q, "image_id": image_id, "image_classes": ["Street sign"], "image_width": 80,
                     "image_height": 56, "answers": answers, "question_tokens": q.lower().rstrip("?").split(),
                     "question_id": qid, "set_name": "val"})
    _jsonl(d / "llava_textvqa_val_v051_ocr.jsonl", questions)
    write_json(d / "TextVQA_0.5.1_val.json", {"dataset_type": "val", "dataset_name": "textvqa",
                                               "dataset_version": "0.5.1", "data": data})


def write_pope(root: Path) -> None:
    """POPE's ``coco/coco_pope_{split}.json`` (JSON lines, ids from 1 in every file) and LLaVA's
    ``llava_pope_test.jsonl`` (ids unique across the three categories): labels pair by position."""
    d = root / "pope"
    images = [("COCO_val2014_000000310196.jpg", "circle", "red"), ("COCO_val2014_000000210789.jpg", "square", "blue")]
    for name, shape, color in images:
        _save(draw_image(shape, color, count=2), d / "val2014" / name)
    questions, llava_id = [], 0
    for split in ("adversarial", "popular", "random"):
        rows = []
        for name, shape, _ in images:
            for obj, label in ((shape, "yes"), ("dog", "no")):
                llava_id += 1
                text = f"Is there a {obj} in the image?"
                rows.append({"question_id": len(rows) + 1, "image": name, "text": text, "label": label})
                questions.append({"question_id": llava_id, "image": name, "text": f"{text}\n{SHORT_ANSWER}",
                                  "category": split})
        _jsonl(d / "coco" / f"coco_pope_{split}.json", rows)
    _jsonl(d / "llava_pope_test.jsonl", questions)


def write_mme(root: Path) -> None:
    """``MME_Benchmark_release_version/<category>/``: flat (image + ``question<TAB>answer`` txt side by
    side, as "existence") or ``images/`` + ``questions_answers_YN/`` (as "artwork")."""
    d = root / "MME" / "MME_Benchmark_release_version"
    items = {"existence": [("000000006040", "circle", "red", 1, "Is there a circle in this image?",
                            "Is there a cat in this image?")],
             "count": [("000000044279", "square", "blue", 2, "Are there two squares in the image?",
                        "Are there five squares in the image?"),
                       ("000000067213", "circle", "green", 3, "Are there three circles in the image?",
                        "Is there only one circle in the image?")],
             "artwork": [("10002", "triangle", "yellow", 1, "Is this artwork a yellow triangle?",
                          "Is this artwork a blue square?")],
             "commonsense_reasoning": [("0001", "triangle", "yellow", 1, "Is the shape yellow like a banana?",
                                        "Is the shape blue like the sky?")]}
    for category, rows in items.items():
        flat = category in ("existence", "count", "commonsense_reasoning")
        for stem, shape, color, count, q_yes, q_no in rows:
            img_dir, txt_dir = (d / category, d / category) if flat else \
                (d / category / "images", d / category / "questions_answers_YN")
            _save(draw_image(shape, color, count=count), img_dir / f"{stem}{'.png' if flat else '.jpg'}")
            write_text(txt_dir / f"{stem}.txt",
                       f"{q_yes} Please answer yes or no.\tYes\n{q_no} Please answer yes or no.\tNo\n")


def _b64(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


MMBENCH_COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source",
                   "l2-category", "comment", "split"]


def write_mmbench(root: Path) -> None:
    """``mmbench_dev_20230712.tsv``: each question at ``index`` plus its circular copies at
    ``index + k·10⁶`` (options rotated k places, answer letter moved with them); base64 PNG images."""
    d = root / "mmbench"
    rows = [(0, "What color is the circle?", "", ["red", "blue", "green", "yellow"], 0, "circle", "red"),
            (1, "Which shape is in the image?", "Look at the picture.", ["triangle", "square"], 1, "square", "blue"),
            (2, "How many circles are there?", "", ["one", "two", "three"], 1, "circle", "green")]
    path = d / "mmbench_dev_20230712.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(MMBENCH_COLUMNS)
        for k in range(4):
            for idx, q, hint, opts, ans, shape, color in rows:
                if k >= len(opts):
                    continue
                rotated = opts[k:] + opts[:k]
                letter = "ABCD"[(ans - k) % len(opts)]
                image = _b64(draw_image(shape, color, count=2 if idx == 2 else 1))
                w.writerow([idx + k * 1_000_000, q, hint, *(rotated + [""] * (4 - len(opts))), letter,
                            "attribute_recognition", image, "MMBench", "finegrained_perception (instance-level)",
                            "", "dev"])


def write_vqav2(root: Path) -> None:
    """VQAv2 val as released (``v2_OpenEnded_mscoco_val2014_questions.json`` + ``v2_mscoco_val2014_annotations.json``,
    images ``val2014/``) and LLaVA's test files (``llava_vqav2_mscoco_test-dev2015.jsonl``, the full
    ``llava_vqav2_mscoco_test2015.jsonl`` its converter lists, images ``test2015/``)."""
    d = root / "vqav2"
    val = [(262148000, 262148, "circle", "red", "What color is the circle?", ["red"] * 9 + ["dark red"], "what color"),
           (262148001, 262148, "circle", "red", "How many circles are there?", ["1"] * 6 + ["one"] * 3 + ["2"],
            "how many"),
           (393225000, 393225, "triangle", "green", "Is this a triangle?", ["yes"] * 10, "is this")]
    questions, annotations = [], []
    for qid, image_id, shape, color, q, answers, qtype in val:
        _save(draw_image(shape, color), d / "val2014" / f"COCO_val2014_{image_id:012d}.jpg")
        questions.append({"image_id": image_id, "question": q, "question_id": qid})
        annotations.append({"question_type": qtype, "multiple_choice_answer": answers[0], "answers": [
            {"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)],
            "image_id": image_id, "answer_type": "number" if qtype == "how many" else
            "yes/no" if qtype == "is this" else "other", "question_id": qid})
    write_json(d / "v2_OpenEnded_mscoco_val2014_questions.json",
               {"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {},
                "data_subtype": "val2014", "questions": questions})
    write_json(d / "v2_mscoco_val2014_annotations.json",
               {"info": {}, "license": {}, "data_subtype": "val2014", "annotations": annotations})
    test = []
    for qid, shape, color in ((262144000, "circle", "blue"), (262144001, "square", "yellow"),
                              (262145000, "triangle", "red")):
        image = _save(draw_image(shape, color), d / "test2015" / f"COCO_test2015_{qid // 1000:012d}.jpg")
        test.append({"question_id": qid, "image": image, "text": f"What color is the {shape}?\n{SHORT_ANSWER}",
                     "category": "default"})
    _jsonl(d / "llava_vqav2_mscoco_test2015.jsonl", test)
    _jsonl(d / "llava_vqav2_mscoco_test-dev2015.jsonl", test[:2])  # test-dev: a subset of test2015


def write_vizwiz(root: Path) -> None:
    d = root / "vizwiz"
    rows = []
    for i, (shape, color) in enumerate((("circle", "red"), ("square", "green"))):
        image = _save(draw_image(shape, color), d / "test" / f"VizWiz_test_{i:08d}.jpg")
        rows.append({"question_id": i, "image": image, "text": "What is this?\nWhen the provided information is "
                     "insufficient, respond with 'Unanswerable'.\n" + SHORT_ANSWER})
    _jsonl(d / "llava_test.jsonl", rows)


def write_mmlu(root: Path, n_test: int = 1) -> Path:
    """Hendrycks layout ``data/{dev,test}/<subject>_{dev,test}.csv`` (no header: question, A-D, answer)."""
    data = root / "mmlu" / "data"
    for s, subject in enumerate(MMLU_SUBJECTS):
        topic = subject.replace("_", " ")
        for split, n in (("dev", 5), ("test", n_test)):
            path = data / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                for k in range(n):
                    a, b = (s + k) % 7 + 2, (3 * k + s) % 5 + 1
                    right = (s + k + (split == "test")) % 4
                    choices = [str(a + b + off) for off in (0, -1, 1, 2)]
                    choices[right], choices[0] = choices[0], choices[right]  # the true sum goes to `right`
                    w.writerow([f"In a {topic} exercise, what is {a} + {b}?", *choices, "ABCD"[right]])
    return data


WRITERS = {"gqa": write_gqa, "scienceqa_img": write_scienceqa, "textvqa": write_textvqa, "pope": write_pope,
           "mme": write_mme, "mmbench": write_mmbench, "vqav2": write_vqav2, "vizwiz": write_vizwiz}


def write_fixtures(root: str | Path, benchmarks=tuple(WRITERS), mmlu: bool = True) -> Path:
    """Write the tiny sets of ``benchmarks`` (and MMLU) under ``root``; returns ``root``."""
    root = Path(root)
    for name in benchmarks:
        WRITERS[name](root)
    if mmlu:
        write_mmlu(root)
    write_text(root / "README.txt", "Tiny benchmark fixtures written by synthvlm_repro.evaluation.fixtures "
               "(PIL-drawn images, LLaVA eval layout). Scores on them mean nothing.\n" + LAYOUT_MARK + "\n")
    return root
