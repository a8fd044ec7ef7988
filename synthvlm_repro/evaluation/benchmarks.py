"""Benchmarks read from local files in the layout of LLaVA's ``playground/data/eval`` (its eval.zip).

Each benchmark turns its files into :class:`Question` lists per split, and scores a split from the
answers (``question_id -> text``) with :mod:`synthvlm_repro.evaluation.scoring`. Files:

- ``gqa/llava_gqa_testdev_balanced.jsonl``, ``gqa/data/testdev_balanced_questions.json``, ``gqa/data/images/``
- ``scienceqa/llava_test_CQM-A.json``, ``scienceqa/problems.json``, ``scienceqa/images/test/``
- ``textvqa/llava_textvqa_val_v051_ocr.jsonl``, ``textvqa/TextVQA_0.5.1_val.json``, ``textvqa/train_images/``
- ``pope/llava_pope_test.jsonl``, ``pope/coco/coco_pope_{adversarial,popular,random}.json``, ``pope/val2014/``
  (labels matched by position within a category, as ``eval_pope.py`` does)
- ``MME/MME_Benchmark_release_version/<category>/`` (images + ``question<TAB>answer`` txt files)
- ``mmbench/mmbench_dev_20230712.tsv`` (base64 images; rows index + k·10⁶ are circular copies)
- ``vqav2/v2_OpenEnded_mscoco_val2014_questions.json`` (or a LLaVA-style ``llava_vqav2_mscoco_val2014.jsonl``)
  + ``vqav2/v2_mscoco_val2014_annotations.json`` + ``vqav2/val2014/`` (scored),
  ``vqav2/llava_vqav2_mscoco_test-dev2015.jsonl`` + ``vqav2/test2015/`` (submission file, over the
  questions of ``vqav2/llava_vqav2_mscoco_test2015.jsonl`` when present, as LLaVA's converter)
- ``vizwiz/llava_test.jsonl`` + ``vizwiz/test/`` (submission file)
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from synthvlm_repro import atomic
from synthvlm_repro.atomic import atomic_open, atomic_path
from synthvlm_repro.evaluation import scoring
from synthvlm_repro.evaluation.answer_processing import normalize_vqa_answer, textvqa_accuracy, vqav2_accuracy
from synthvlm_repro.evaluation.prompting import OPTION_LETTER, SHORT_ANSWER, with_suffix


log = logging.getLogger(__name__)


class BenchmarkDataError(ValueError):
    """A benchmark file is missing or malformed (the message names the file and row)."""


@dataclass(frozen=True)
class Question:
    """One generation request: the user text (without ``<image>``) and where its image is."""

    qid: str
    text: str
    image: Path | None = None
    image_b64: str | None = None

    def load_image(self):
        from io import BytesIO

        from PIL import Image

        if self.image_b64 is not None:
            return Image.open(BytesIO(base64.b64decode(self.image_b64))).convert("RGB")
        if self.image is None or not self.image.exists():
            raise BenchmarkDataError(f"question {self.qid}: image not found: {self.image}")
        with Image.open(self.image) as im:
            return im.convert("RGB")


@dataclass(frozen=True)
class Score:
    split: str
    metric: str
    value: float
    n: int


# ----------------------------------------------------------------------------- readers


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise BenchmarkDataError(f"{path}: file not found")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise BenchmarkDataError(f"{path}:{i}: invalid JSON ({e.msg})") from None
    return rows


def read_json(path: Path):
    return atomic.read_json(path, BenchmarkDataError)


def _field(row: dict, key: str, path: Path, i: int):
    if key not in row:
        raise BenchmarkDataError(f"{path}: row {i}: missing field {key!r}")
    return row[key]


def _llava_jsonl_questions(path: Path, image_dir: Path, suffix: str | None = SHORT_ANSWER) -> list[Question]:
    out = []
    for i, row in enumerate(read_jsonl(path), 1):
        text = _field(row, "text", path, i)
        out.append(Question(str(_field(row, "question_id", path, i)), with_suffix(text, suffix) if suffix else text,
                            image_dir / _field(row, "image", path, i)))
    return out


def _answer(answers: dict[str, str], qid: str, bench: str) -> str:
    if qid not in answers:
        raise BenchmarkDataError(f"{bench}: no answer for question {qid} (run the answer step first)")
    return answers[qid]


# ----------------------------------------------------------------------------- benchmarks


class Benchmark:
    """Base: ``questions(root)`` -> {split: [Question]}, ``score(root, split, answers)`` -> [Score]."""

    name = ""
    folder = ""
    submission_splits: tuple[str, ...] = ()

    def questions(self, root: Path, cfg) -> dict[str, list[Question]]:
        raise NotImplementedError

    def group_of(self, qid: str) -> str:
        """Questions scored together (MME image pairs, MMBench rotations); ``limit`` keeps whole groups."""
        return qid

    def score(self, root: Path, split: str, answers: dict[str, str], cfg) -> list[Score]:
        raise NotImplementedError

    def write_submission(self, root: Path, split: str, questions: list[Question], answers: dict[str, str],
                         out_dir: Path) -> Path | None:
        """The file a user uploads to the benchmark's server (None: this split has none)."""
        return None


class GQA(Benchmark):
    name, folder = "gqa", "gqa"

    def questions(self, root, cfg):
        d = root / self.folder
        return {"testdev_balanced": _llava_jsonl_questions(d / "llava_gqa_testdev_balanced.jsonl",
                                                           d / "data" / "images")}

    def score(self, root, split, answers, cfg):
        """``convert_gqa_for_eval.py`` + GQA ``eval.py`` accuracy (exact match), over the answered questions."""
        path = root / self.folder / "data" / "testdev_balanced_questions.json"
        truth = read_json(path)
        for q in answers:
            if q not in truth or "answer" not in truth[q]:
                raise BenchmarkDataError(f"{path}: no answer for question {q}")
        hits = [scoring.gqa_normalize(text) == truth[q]["answer"] for q, text in answers.items()]
        return [Score(split, "accuracy", 100 * sum(hits) / len(hits), len(hits))]


class ScienceQAImg(Benchmark):
    name, folder = "scienceqa_img", "scienceqa"

    def questions(self, root, cfg):
        d = root / self.folder
        path = d / "llava_test_CQM-A.json"
        out = []
        for i, row in enumerate(read_json(path), 1):
            if "image" not in row:  # SQA-IMG: only the questions with an image
                continue
            text = _field(row, "conversations", path, i)[0]["value"]
            out.append(Question(str(_field(row, "id", path, i)), with_suffix(text, OPTION_LETTER),
                                d / "images" / "test" / row["image"]))
        return {"test": out}

    def score(self, root, split, answers, cfg):
        """``eval_science_qa.py``'s IMG-Accuracy: problems of ``pid_splits.json[split]`` with an image."""
        d = root / self.folder
        problems = read_json(d / "problems.json")
        in_split = set(_field(read_json(d / "pid_splits.json"), split, d / "pid_splits.json", 1))
        hits = []
        for qid, text in answers.items():
            if qid not in problems or qid not in in_split:
                raise BenchmarkDataError(f"{d}: problem {qid} not in problems.json / pid_splits.json[{split!r}]")
            p = problems[qid]
            hits.append(scoring.scienceqa_letter(text, len(p["choices"])) == int(p["answer"]))
        return [Score(split, "accuracy", 100 * sum(hits) / len(hits), len(hits))]


class TextVQA(Benchmark):
    """LLaVA's TextVQA file: ``question_id`` is the *image* id (repeated), so questions are keyed here
    by ``<image id>/<row>``; scoring joins on (image id, lower-cased question) as ``eval_textvqa.py``."""

    name, folder = "textvqa", "textvqa"

    def questions(self, root, cfg):
        d = root / self.folder
        path = d / "llava_textvqa_val_v051_ocr.jsonl"
        out = []
        for i, row in enumerate(read_jsonl(path)):
            text = _field(row, "text", path, i + 1)
            if not cfg.textvqa_ocr:  # lmms-eval's default: the question without the OCR line
                text = _drop_ocr(text)
            out.append(Question(f"{_field(row, 'question_id', path, i + 1)}/{i}", with_suffix(text, SHORT_ANSWER),
                                d / "train_images" / _field(row, "image", path, i + 1)))
        return {"val": out}

    def score(self, root, split, answers, cfg):
        path = root / self.folder / "TextVQA_0.5.1_val.json"
        truth = {(str(r["image_id"]), r["question"].lower()): r["answers"] for r in read_json(path)["data"]}
        accs = []
        for q in self.questions(root, cfg)[split]:
            if q.qid not in answers:
                continue
            key = (q.qid.rsplit("/", 1)[0], textvqa_question(q.text))
            if key not in truth:
                raise BenchmarkDataError(f"{path}: no question {key[1]!r} for image {key[0]}")
            accs.append(textvqa_accuracy(answers[q.qid], truth[key]))
        return [Score(split, "vqa_accuracy", 100 * sum(accs) / len(accs), len(accs))]


OCR_MARK = "\nReference OCR token:"


def textvqa_question(prompt: str) -> str:
    """The question inside a TextVQA prompt, lower-cased (``eval_textvqa.py``'s ``prompt_processor``)."""
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        m = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        question = m.group(1) if m else None
    elif "Reference OCR token: " in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        question = None
    if question is None:
        raise BenchmarkDataError(f"TextVQA: cannot find the question in prompt {prompt!r}")
    return question.lower()


def _drop_ocr(text: str) -> str:
    if OCR_MARK not in text:
        return text
    head, tail = text.split(OCR_MARK, 1)
    rest = tail.split("\n", 1)[1] if "\n" in tail else ""
    return head + ("\n" + rest if rest else "")


def _truth(truth: dict, qid: str, path: Path):
    if qid not in truth:
        raise BenchmarkDataError(f"{path}: no ground truth for question {qid}")
    return truth[qid]


POPE_SPLITS = ("adversarial", "popular", "random")


class POPE(Benchmark):
    name, folder = "pope", "pope"

    def questions(self, root, cfg):
        d = root / self.folder
        path = d / "llava_pope_test.jsonl"
        by_split: dict[str, list[Question]] = defaultdict(list)
        for q, row in zip(_llava_jsonl_questions(path, d / "val2014"), read_jsonl(path)):
            split = row.get("category")
            if split not in POPE_SPLITS:
                raise BenchmarkDataError(f"{path}: question {q.qid}: category {split!r} not in {POPE_SPLITS}")
            by_split[split].append(q)
        return dict(by_split)

    def score(self, root, split, answers, cfg):
        """``eval_pope.py``: the n-th answer of a category is scored against the n-th label of its file."""
        path = root / self.folder / "coco" / f"coco_pope_{split}.json"
        labels = [_field(r, "label", path, i + 1) for i, r in enumerate(read_jsonl(path))]
        preds, golds = [], []
        for pos, q in enumerate(self.questions(root, cfg)[split]):
            if q.qid not in answers:
                continue
            if pos >= len(labels):
                raise BenchmarkDataError(f"{path}: {len(labels)} labels, but question {q.qid} is number {pos + 1}")
            preds.append(scoring.pope_parse(answers[q.qid]))
            golds.append(labels[pos])
        metrics = scoring.pope_metrics(preds, golds)
        return [Score(split, k, 100 * v if k != "yes_ratio" else v, len(preds)) for k, v in metrics.items()]


class MME(Benchmark):
    name, folder = "mme", "MME/MME_Benchmark_release_version"

    def group_of(self, qid):
        return qid.rsplit("/", 1)[0]  # <category>/<image stem>

    def _rows(self, root):
        base = root / self.folder
        if not base.is_dir():
            raise BenchmarkDataError(f"{base}: folder not found")
        for cat_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            qa_dir = cat_dir / "questions_answers_YN" if (cat_dir / "images").is_dir() else cat_dir
            img_dir = cat_dir / "images" if (cat_dir / "images").is_dir() else cat_dir
            for txt in sorted(qa_dir.glob("*.txt")):
                image = next((img_dir / f"{txt.stem}{ext}" for ext in (".png", ".jpg", ".jpeg")
                              if (img_dir / f"{txt.stem}{ext}").exists()), None)
                if image is None:
                    raise BenchmarkDataError(f"{txt}: no image {txt.stem}.png/.jpg in {img_dir}")
                for i, line in enumerate(txt.read_text(encoding="utf-8").splitlines()):
                    if not line.strip():
                        continue
                    parts = line.strip().split("\t")
                    if len(parts) != 2:
                        raise BenchmarkDataError(f"{txt}:{i + 1}: expected 'question<TAB>answer'")
                    yield cat_dir.name, f"{cat_dir.name}/{txt.stem}/{i}", image, parts[0], parts[1]

    def questions(self, root, cfg):
        return {"test": [Question(qid, with_suffix(q, SHORT_ANSWER), img) for _, qid, img, q, _ in self._rows(root)]}

    def score(self, root, split, answers, cfg):
        """MME's ``calculation.py`` per category (acc, acc+, score) and the perception/cognition sums."""
        by_cat = defaultdict(list)
        for cat, qid, img, _, gt in self._rows(root):
            if qid in answers:
                by_cat[cat].append((str(img), answers[qid], gt))
        out, scores = [], {}
        for cat, rows in by_cat.items():
            s = scoring.mme_category_score(rows)
            scores[cat] = s["score"]
            out += [Score(f"{split}/{cat}", m, v, len(rows)) for m, v in s.items()]
        n_p = sum(len(r) for c, r in by_cat.items() if c in scoring.MME_PERCEPTION)
        n_c = sum(len(r) for c, r in by_cat.items() if c in scoring.MME_COGNITION)
        totals = scoring.mme_totals(scores)
        return out + [Score(split, "perception", totals["perception"], n_p),
                      Score(split, "cognition", totals["cognition"], n_c)]


MMBENCH_DROPPED = ("hint", "category", "source", "image", "comment", "l2-category")  # by LLaVA's converter


class MMBench(Benchmark):
    """MMBench dev as LLaVA's ``mmbench.sh`` runs it: every TSV row asked once (the TSV already holds
    the circular copies, index + k·10⁶, with rotated options); letters read by VLMEvalKit's rule-based
    ``can_infer``; circular accuracy over questions (all copies right)."""

    name, folder = "mmbench", "mmbench"

    def group_of(self, qid):
        return str(int(qid) % 1_000_000)

    def _table(self, root):
        import pandas as pd

        path = root / self.folder / "mmbench_dev_20230712.tsv"
        if not path.exists():
            raise BenchmarkDataError(f"{path}: file not found")
        df = pd.read_table(path)  # pandas' default NA parsing, as LLaVA's and VLMEvalKit's readers
        for col in ("index", "question", "A", "B", "answer", "image"):
            if col not in df.columns:
                raise BenchmarkDataError(f"{path}: missing column {col!r}")
        return path, df

    def questions(self, root, cfg):
        _, df = self._table(root)
        out = []
        for _, row in df.iterrows():
            if not cfg.mmbench_circular and int(row["index"]) >= 1_000_000:
                continue
            text = str(row["question"])
            hint = row.get("hint")
            if not _is_none(hint):
                text = f"{hint}\n{text}"
            for letter in "ABCD":  # LLaVA's get_options: A-D up to the first empty one
                if letter not in row or _is_none(row[letter]):
                    break
                text += f"\n{letter}. {row[letter]}"
            out.append(Question(str(int(row["index"])), with_suffix(text, OPTION_LETTER), image_b64=row["image"]))
        return {"dev": out}

    def score(self, root, split, answers, cfg):
        import pandas as pd

        path, df = self._table(root)
        correct: dict[int, bool] = {}
        for _, row in df.iterrows():
            index = int(row["index"])
            if str(index) not in answers:
                continue
            choices = {c: row[c] for c in scoring.LETTERS if c in row and not pd.isna(row[c])}
            if row["answer"] not in choices:
                raise BenchmarkDataError(f"{path}: question {index}: answer {row['answer']!r} not an option")
            correct[index] = scoring.mmbench_letter(answers[str(index)], choices) == row["answer"]
        main = [ok for index, ok in correct.items() if index < 1_000_000]
        if not main:
            raise BenchmarkDataError(f"{path}: no answered question with index < 1000000 (the main rows)")
        out = [Score(split, "accuracy_single", 100 * sum(main) / len(main), len(main))]
        if cfg.mmbench_circular:
            circular = scoring.mmbench_circular(correct)
            out.append(Score(split, "accuracy_circular", 100 * sum(circular.values()) / len(circular), len(circular)))
        return out

    def submission_table(self, root, answers: dict[str, str]):
        """LLaVA's ``convert_mmbench_for_submission.py`` table: the TSV without hint/category/source/image/
        comment/l2-category, a ``prediction`` column inserted at position 6 (the raw answers)."""
        _, df = self._table(root)
        table = df.drop(columns=[c for c in MMBENCH_DROPPED if c in df.columns])
        table.insert(6, "prediction", None)
        for i, index in enumerate(df["index"]):
            if str(int(index)) in answers:
                table.iloc[i, 6] = answers[str(int(index))]
        return table

    def write_submission(self, root, split, questions, answers, out_dir):
        """``mmbench_dev_20230712.xlsx`` (openpyxl, as LLaVA's converter), or a TSV when openpyxl is absent."""
        table = self.submission_table(root, answers)
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            path = out_dir / f"{self.name}_{split}.tsv"
            with atomic_path(path) as tmp:
                table.to_csv(tmp, sep="\t", index=False)
            return path
        path = out_dir / f"{self.name}_{split}.xlsx"
        with atomic_path(path) as tmp:
            table.to_excel(tmp, index=False, engine="openpyxl")
        return path


def _is_none(value) -> bool:
    """LLaVA's ``is_none``: None, NaN, or the strings "nan"/"none" (any case)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return isinstance(value, str) and value.lower() in ("nan", "none")


def _upload_json(path: Path, entries: list[dict]) -> Path:
    """Written as LLaVA's converters write it (``json.dump`` defaults), byte for byte."""
    with atomic_open(path, "w") as fh:
        json.dump(entries, fh)
    return path


class VQAv2(Benchmark):
    name, folder = "vqav2", "vqav2"
    submission_splits = ("test-dev",)

    def questions(self, root, cfg):
        d = root / self.folder
        out = {}
        val = d / "llava_vqav2_mscoco_val2014.jsonl"
        val_official = d / "v2_OpenEnded_mscoco_val2014_questions.json"
        test = d / "llava_vqav2_mscoco_test-dev2015.jsonl"
        if val.exists():
            out["val"] = _llava_jsonl_questions(val, d / "val2014")
        elif val_official.exists():  # the released questions, prompted as LLaVA prompts VQAv2
            out["val"] = [Question(str(q["question_id"]), with_suffix(q["question"], SHORT_ANSWER),
                                   d / "val2014" / f"COCO_val2014_{int(q['image_id']):012d}.jpg")
                          for q in read_json(val_official)["questions"]]
        if test.exists():
            out["test-dev"] = _llava_jsonl_questions(test, d / "test2015")
        if not out:
            raise BenchmarkDataError(f"{d}: none of {val.name}, {val_official.name}, {test.name} found")
        return out

    def score(self, root, split, answers, cfg):
        """``vqaEval.py`` on the answers as LLaVA's converter would upload them (EvalAI-normalised)."""
        path = root / self.folder / "v2_mscoco_val2014_annotations.json"
        truth = {str(a["question_id"]): [x["answer"] for x in a["answers"]] for a in read_json(path)["annotations"]}
        accs = [vqav2_accuracy(normalize_vqa_answer(answers[q]), _truth(truth, q, path)) for q in answers]
        return [Score(split, "vqa_accuracy", 100 * sum(accs) / len(accs), len(accs))]

    def submission(self, root, split, answers):
        """``convert_vqav2_for_submission.py``: every question of ``llava_vqav2_mscoco_test2015.jsonl``
        (the answered test-dev ones normalised, the rest ""); without that file, the test-dev questions."""
        d = root / self.folder
        full = d / "llava_vqav2_mscoco_test2015.jsonl"
        if not full.exists():
            log.warning("%s not found: the upload lists only the test-dev questions", full)
            full = d / "llava_vqav2_mscoco_test-dev2015.jsonl"
        return [{"question_id": r["question_id"],
                 "answer": normalize_vqa_answer(answers[str(r["question_id"])]) if str(r["question_id"]) in answers
                 else ""} for r in read_jsonl(full)]

    def write_submission(self, root, split, questions, answers, out_dir):
        if split not in self.submission_splits:
            return None
        return _upload_json(out_dir / f"{self.name}_{split}.json", self.submission(root, split, answers))


class VizWiz(Benchmark):
    name, folder = "vizwiz", "vizwiz"
    submission_splits = ("test",)

    def questions(self, root, cfg):
        d = root / self.folder
        return {"test": _llava_jsonl_questions(d / "llava_test.jsonl", d / "test")}

    def submission(self, root, split, answers):
        """``convert_vizwiz_for_submission.py``: ``{"image", "answer"}`` per question, all answered."""
        rows = read_jsonl(root / self.folder / "llava_test.jsonl")
        texts = [_answer(answers, str(r["question_id"]), self.name) for r in rows]
        return [{"image": r["image"], "answer": normalize_vqa_answer(t)} for r, t in zip(rows, texts)]

    def write_submission(self, root, split, questions, answers, out_dir):
        if split not in self.submission_splits:
            return None
        return _upload_json(out_dir / f"{self.name}_{split}.json", self.submission(root, split, answers))


BENCHMARKS: dict[str, Callable[[], Benchmark]] = {
    b.name: b for b in (GQA, ScienceQAImg, TextVQA, POPE, MME, MMBench, VQAv2, VizWiz)}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]()
