"""Tiny benchmark sets in the real file formats, drawn with PIL, for smoke runs and tests.

Every benchmark of :mod:`synthvlm_repro.evaluation.benchmarks` gets a handful of questions in its
LLaVA eval layout, plus a Hendrycks-layout MMLU set (all 57 subjects, five dev shots each). The
content is fixed, so the files are identical on every run. Images are deliberately not square,
so LLaVA's pad-to-square path is exercised.
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
    d = root / "gqa"
    items = [("g1", "circle", "red", "What color is the circle?", "red"),
             ("g2", "square", "blue", "What shape is shown?", "square"),
             ("g3", "triangle", "green", "Is the shape green?", "yes"),
             ("g4", "circle", "yellow", "Is the circle blue?", "no")]
    questions, truth = [], {}
    for qid, shape, color, q, a in items:
        image = _save(draw_image(shape, color), d / "images" / f"n{qid}.jpg")
        questions.append({"question_id": qid, "image": image, "text": f"{q}\n{SHORT_ANSWER}", "category": "query"})
        truth[qid] = {"answer": a, "imageId": f"n{qid}"}
    _jsonl(d / "llava_gqa_testdev_balanced.jsonl", questions)
    write_json(d / "testdev_balanced_questions.json", truth)


def write_scienceqa(root: Path) -> None:
    d = root / "scienceqa"
    items = [("101", "circle", "red", "Which color is the shape?", ["blue", "red", "green"], 1),
             ("102", "square", "green", "Which shape is shown?", ["square", "circle"], 0),
             ("103", "triangle", "blue", "How many shapes are there?", ["two", "three", "one", "four"], 2),
             ("104", None, None, "Which is a mammal?", ["trout", "dog"], 1)]
    problems, llava = {}, []
    for pid, shape, color, q, choices, answer in items:
        opts = "\n".join(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices))
        row = {"id": pid, "conversations": [
            {"from": "human", "value": ("<image>\n" if shape else "") + f"Context: N/A\n{q}\n{opts}"},
            {"from": "gpt", "value": "ABCD"[answer]}]}
        problems[pid] = {"question": q, "choices": choices, "answer": answer, "split": "test",
                         "image": "image.png" if shape else None}
        if shape:
            _save(draw_image(shape, color), d / "images" / "test" / pid / "image.png")
            row["image"] = f"{pid}/image.png"
        llava.append(row)
    write_json(d / "llava_test_CQM-A.json", llava)
    write_json(d / "problems.json", problems)
    write_json(d / "pid_splits.json", {"test": [i[0] for i in items]})


def write_textvqa(root: Path) -> None:
    d = root / "textvqa"
    items = [(34602, "STOP", "What does the sign say?", ["stop"] * 8 + ["stop sign", "STOP!"]),
             (34603, "CAFE 24", "What number is written?", ["24"] * 5 + ["twenty four", "24 hours"] + ["24"] * 3),
             (34604, "OPEN", "Is the shop open or closed?", ["open"] * 2 + ["closed"] * 8)]
    questions, data = [], []
    for qid, text, q, answers in items:
        image = _save(draw_image("square", "yellow", text=text), d / "train_images" / f"t{qid}.jpg")
        tokens = text.split()
        questions.append({"question_id": qid, "image": image,
                          "text": f"{q}\nReference OCR token: {', '.join(tokens)}\n{SHORT_ANSWER}"})
        data.append({"question_id": qid, "question": q, "image_id": f"t{qid}", "answers": answers,
                     "ocr_tokens": tokens})
    _jsonl(d / "llava_textvqa_val_v051_ocr.jsonl", questions)
    write_json(d / "TextVQA_0.5.1_val.json", {"dataset_name": "textvqa", "dataset_version": "0.5.1", "data": data})


def write_pope(root: Path) -> None:
    d = root / "pope"
    images = [("COCO_val2014_000000000001.jpg", "circle", "red"), ("COCO_val2014_000000000002.jpg", "square", "blue")]
    for _, (name, shape, color) in enumerate(images):
        _save(draw_image(shape, color, count=2), d / "val2014" / name)
    questions, qid = [], 0
    for split in ("adversarial", "popular", "random"):
        rows = []
        for name, shape, _ in images:
            for obj, label in ((shape, "yes"), ("dog", "no")):
                qid += 1
                row = {"question_id": qid, "image": name, "text": f"Is there a {obj} in the image?", "label": label}
                rows.append(row)
                questions.append({"question_id": qid, "image": name, "text": row["text"], "category": split})
        _jsonl(d / "coco" / f"coco_pope_{split}.json", rows)
    _jsonl(d / "llava_pope_test.jsonl", questions)


def write_mme(root: Path) -> None:
    d = root / "MME" / "MME_Benchmark_release_version"
    items = {"existence": [("e1", "circle", "red", 1, "Is there a circle in this image?", "Is there a cat in this image?")],
             "count": [("c1", "square", "blue", 2, "Are there two squares in the image?",
                        "Are there five squares in the image?"),
                       ("c2", "circle", "green", 3, "Are there three circles in the image?",
                        "Is there only one circle in the image?")],
             "commonsense_reasoning": [("r1", "triangle", "yellow", 1, "Is the shape yellow like a banana?",
                                        "Is the shape blue like the sky?")]}
    for category, rows in items.items():
        for stem, shape, color, count, q_yes, q_no in rows:
            _save(draw_image(shape, color, count=count), d / category / "images" / f"{stem}.png")
            write_text(d / category / "questions_answers_YN" / f"{stem}.txt",
                       f"{q_yes} Please answer yes or no.\tYes\n{q_no} Please answer yes or no.\tNo\n")


def _b64(im: Image.Image) -> str:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def write_mmbench(root: Path) -> None:
    d = root / "mmbench"
    rows = [(0, "What color is the circle?", "", ["red", "blue", "green", "yellow"], "A", "circle", "red"),
            (1, "Which shape is in the image?", "Look at the picture.", ["triangle", "square"], "B", "square", "blue"),
            (2, "How many circles are there?", "nan", ["one", "two", "three"], "B", "circle", "green")]
    path = d / "mmbench_dev_20230712.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split",
                    "image"])
        for idx, q, hint, opts, ans, shape, color in rows:
            opts = opts + [""] * (4 - len(opts))
            count = 2 if idx == 2 else 1
            w.writerow([idx, q, hint, *opts, ans, "attribute_recognition", "finegrained_perception", "dev",
                        _b64(draw_image(shape, color, count=count))])


def write_vqav2(root: Path) -> None:
    d = root / "vqav2"
    val = [(262148000, "circle", "red", "What color is the circle?", ["red"] * 9 + ["dark red"]),
           (262148001, "square", "blue", "How many squares are there?", ["1"] * 6 + ["one"] * 3 + ["2"]),
           (262148002, "triangle", "green", "Is this a triangle?", ["yes"] * 10)]
    questions, annotations = [], []
    for qid, shape, color, q, answers in val:
        image = _save(draw_image(shape, color), d / "val2014" / f"COCO_val2014_{qid:012d}.jpg")
        questions.append({"question_id": qid, "image": image, "text": f"{q}\n{SHORT_ANSWER}"})
        annotations.append({"question_id": qid, "answers": [{"answer": a, "answer_id": i + 1}
                                                            for i, a in enumerate(answers)],
                            "multiple_choice_answer": answers[0]})
    _jsonl(d / "llava_vqav2_mscoco_val2014.jsonl", questions)
    write_json(d / "v2_mscoco_val2014_annotations.json", {"annotations": annotations})
    test = []
    for qid, shape, color in ((1000, "circle", "blue"), (1001, "square", "yellow")):
        image = _save(draw_image(shape, color), d / "test2015" / f"COCO_test2015_{qid:012d}.jpg")
        test.append({"question_id": qid, "image": image, "text": f"What color is the {shape}?\n{SHORT_ANSWER}"})
    _jsonl(d / "llava_vqav2_mscoco_test-dev2015.jsonl", test)


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
               "(PIL-drawn images, LLaVA eval layout). Scores on them mean nothing.\n")
    return root
