"""Benchmarks read from local files in the layout of LLaVA's ``playground/data/eval`` (its eval.zip).

Each benchmark turns its files into :class:`Question` lists per split, and scores a split from the
answers (``question_id -> text``) with :mod:`synthvlm_repro.evaluation.scoring`. Files:

- ``gqa/llava_gqa_testdev_balanced.jsonl``, ``gqa/testdev_balanced_questions.json``, ``gqa/images/``
- ``scienceqa/llava_test_CQM-A.json``, ``scienceqa/problems.json``, ``scienceqa/images/test/``
- ``textvqa/llava_textvqa_val_v051_ocr.jsonl``, ``textvqa/TextVQA_0.5.1_val.json``, ``textvqa/train_images/``
- ``pope/llava_pope_test.jsonl``, ``pope/coco/coco_pope_{adversarial,popular,random}.json``, ``pope/val2014/``
- ``MME/MME_Benchmark_release_version/<category>/`` (images + ``question<TAB>answer`` txt files)
- ``mmbench/mmbench_dev_20230712.tsv`` (base64 images)
- ``vqav2/llava_vqav2_mscoco_val2014.jsonl`` + ``vqav2/v2_mscoco_val2014_annotations.json`` + ``vqav2/val2014/``
  (scored), ``vqav2/llava_vqav2_mscoco_test-dev2015.jsonl`` + ``vqav2/test2015/`` (submission file)
- ``vizwiz/llava_test.jsonl`` + ``vizwiz/test/`` (submission file)
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from synthvlm_repro.evaluation import scoring
from synthvlm_repro.evaluation.answer_processing import normalize_vqa_answer, vqa_accuracy
from synthvlm_repro.evaluation.prompting import OPTION_LETTER, SHORT_ANSWER, with_suffix


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
    if not path.exists():
        raise BenchmarkDataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BenchmarkDataError(f"{path}: invalid JSON at line {e.lineno} ({e.msg})") from None


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

    def submission(self, split: str, questions: list[Question], answers: dict[str, str]) -> list[dict]:
        raise NotImplementedError


class GQA(Benchmark):
    name, folder = "gqa", "gqa"

    def questions(self, root, cfg):
        d = root / self.folder
        return {"testdev_balanced": _llava_jsonl_questions(d / "llava_gqa_testdev_balanced.jsonl", d / "images")}

    def score(self, root, split, answers, cfg):
        path = root / self.folder / "testdev_balanced_questions.json"
        truth = read_json(path)
        qids = list(answers)
        for q in qids:
            if q not in truth or "answer" not in truth[q]:
                raise BenchmarkDataError(f"{path}: no answer for question {q}")
        hits = [scoring.gqa_normalize(answers[q]) == truth[q]["answer"].lower() for q in qids]
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
        path = root / self.folder / "problems.json"
        problems = read_json(path)
        hits = []
        for qid, text in answers.items():
            if qid not in problems:
                raise BenchmarkDataError(f"{path}: no problem {qid}")
            p = problems[qid]
            hits.append(scoring.scienceqa_letter(text, len(p["choices"])) == int(p["answer"]))
        return [Score(split, "accuracy", 100 * sum(hits) / len(hits), len(hits))]


OCR_MARK = "\nReference OCR token:"


class TextVQA(Benchmark):
    name, folder = "textvqa", "textvqa"

    def questions(self, root, cfg):
        d = root / self.folder
        qs = _llava_jsonl_questions(d / "llava_textvqa_val_v051_ocr.jsonl", d / "train_images")
        if not cfg.textvqa_ocr:  # lmms-eval's default: the question without the OCR line
            qs = [Question(q.qid, with_suffix(_drop_ocr(q.text), SHORT_ANSWER), q.image) for q in qs]
        return {"val": qs}

    def score(self, root, split, answers, cfg):
        path = root / self.folder / "TextVQA_0.5.1_val.json"
        truth = {str(r["question_id"]): r["answers"] for r in read_json(path)["data"]}
        accs = [vqa_accuracy(answers[q], _truth(truth, q, path)) for q in answers]
        return [Score(split, "vqa_accuracy", 100 * sum(accs) / len(accs), len(accs))]


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
        path = root / self.folder / "coco" / f"coco_pope_{split}.json"
        labels = {str(r["question_id"]): r["label"] for r in read_jsonl(path)}
        qids = list(answers)
        metrics = scoring.pope_metrics([scoring.pope_parse(answers[q]) for q in qids],
                                       [_truth(labels, q, path) for q in qids])
        return [Score(split, k, 100 * v if k != "yes_ratio" else v, len(qids)) for k, v in metrics.items()]


class MME(Benchmark):
    name, folder = "mme", "MME/MME_Benchmark_release_version"

    def group_of(self, qid):
        return qid.rsplit("/", 1)[0]  # <category>/<image stem>

    def _rows(self, root):
        base = root / self.folder
        if not base.is_dir():
            raise BenchmarkDataError(f"{base}: folder not found")
        for cat_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            qa_dir = cat_dir / "questions_answers_YN" if (cat_dir / "questions_answers_YN").is_dir() else cat_dir
            img_dir = cat_dir / "images" if (cat_dir / "images").is_dir() else cat_dir
            for txt in sorted(qa_dir.glob("*.txt")):
                image = next((img_dir / f"{txt.stem}{ext}" for ext in (".png", ".jpg", ".jpeg")
                              if (img_dir / f"{txt.stem}{ext}").exists()), None)
                if image is None:
                    raise BenchmarkDataError(f"{txt}: no image {txt.stem}.png/.jpg in {img_dir}")
                for i, line in enumerate(txt.read_text(encoding="utf-8").splitlines()):
                    if not line.strip():
                        continue
                    parts = line.split("\t")
                    if len(parts) != 2:
                        raise BenchmarkDataError(f"{txt}:{i + 1}: expected 'question<TAB>answer'")
                    yield cat_dir.name, f"{cat_dir.name}/{txt.stem}/{i}", image, parts[0].strip(), parts[1].strip()

    def questions(self, root, cfg):
        return {"test": [Question(qid, with_suffix(q, SHORT_ANSWER), img) for _, qid, img, q, _ in self._rows(root)]}

    def score(self, root, split, answers, cfg):
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


class MMBench(Benchmark):
    name, folder = "mmbench", "mmbench"

    def group_of(self, qid):
        return qid.rsplit("/", 1)[0]  # <index>/r<rotation>

    def _table(self, root):
        import pandas as pd

        path = root / self.folder / "mmbench_dev_20230712.tsv"
        if not path.exists():
            raise BenchmarkDataError(f"{path}: file not found")
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        for col in ("index", "question", "A", "B", "image"):
            if col not in df.columns:
                raise BenchmarkDataError(f"{path}: missing column {col!r}")
        return path, df

    @staticmethod
    def _options(row) -> list[str]:
        """Options A, B, ... up to the first empty one (LLaVA's ``get_options``)."""
        out = []
        for c in "ABCD":
            if c not in row or _is_none(row[c]):
                break
            out.append(row[c])
        return out

    def questions(self, root, cfg):
        _, df = self._table(root)
        out = []
        for _, row in df.iterrows():
            options = self._options(row)
            rounds = len(options) if cfg.mmbench_circular else 1
            for r in range(rounds):
                rotated, _ = scoring.rotate_options(options, 0, r)
                hint = "" if _is_none(row.get("hint")) else str(row["hint"]).strip()
                text = (f"{hint}\n" if hint else "") + row["question"]
                text += "".join(f"\n{scoring.LETTERS[i]}. {o}" for i, o in enumerate(rotated))
                out.append(Question(f"{row['index']}/r{r}", with_suffix(text, OPTION_LETTER),
                                    image_b64=row["image"]))
        return {"dev": out}

    def score(self, root, split, answers, cfg):
        path, df = self._table(root)
        by_question: dict[str, list[bool]] = defaultdict(list)
        for _, row in df.iterrows():
            options = self._options(row)
            if "answer" not in row or row["answer"] not in scoring.LETTERS[:len(options)]:
                raise BenchmarkDataError(f"{path}: question {row['index']}: answer {row.get('answer')!r} not an option")
            gt = scoring.LETTERS.index(row["answer"])
            for r in range(len(options) if cfg.mmbench_circular else 1):
                qid = f"{row['index']}/r{r}"
                if qid not in answers:
                    continue
                rotated, gt_r = scoring.rotate_options(options, gt, r)
                letter = scoring.mmbench_letter(answers[qid], dict(zip(scoring.LETTERS, rotated)))
                by_question[str(row["index"])].append(letter == scoring.LETTERS[gt_r])
        first = [v[0] for v in by_question.values()]
        n = len(by_question)
        out = [Score(split, "accuracy_single", 100 * sum(first) / n, n)]
        if cfg.mmbench_circular:
            out.append(Score(split, "accuracy_circular", 100 * scoring.circular_accuracy(by_question), n))
        return out


def _is_none(value) -> bool:
    """Empty cells as MMBench TSVs write them ("", "nan", "none")."""
    return value is None or str(value).strip().lower() in ("", "nan", "none")


class VQAv2(Benchmark):
    name, folder = "vqav2", "vqav2"
    submission_splits = ("test-dev",)

    def questions(self, root, cfg):
        d = root / self.folder
        out = {}
        val = d / "llava_vqav2_mscoco_val2014.jsonl"
        test = d / "llava_vqav2_mscoco_test-dev2015.jsonl"
        if val.exists():
            out["val"] = _llava_jsonl_questions(val, d / "val2014")
        if test.exists():
            out["test-dev"] = _llava_jsonl_questions(test, d / "test2015")
        if not out:
            raise BenchmarkDataError(f"{d}: neither {val.name} nor {test.name} found")
        return out

    def score(self, root, split, answers, cfg):
        path = root / self.folder / "v2_mscoco_val2014_annotations.json"
        truth = {str(a["question_id"]): [x["answer"] for x in a["answers"]] for a in read_json(path)["annotations"]}
        accs = [vqa_accuracy(answers[q], _truth(truth, q, path)) for q in answers]
        return [Score(split, "vqa_accuracy", 100 * sum(accs) / len(accs), len(accs))]

    def submission(self, split, questions, answers):
        return [{"question_id": int(q.qid) if q.qid.isdigit() else q.qid,
                 "answer": normalize_vqa_answer(_answer(answers, q.qid, self.name))} for q in questions]


class VizWiz(Benchmark):
    name, folder = "vizwiz", "vizwiz"
    submission_splits = ("test",)

    def questions(self, root, cfg):
        d = root / self.folder
        return {"test": _llava_jsonl_questions(d / "llava_test.jsonl", d / "test")}

    def submission(self, split, questions, answers):
        return [{"image": q.image.name, "answer": normalize_vqa_answer(_answer(answers, q.qid, self.name))}
                for q in questions]


BENCHMARKS: dict[str, Callable[[], Benchmark]] = {
    b.name: b for b in (GQA, ScienceQAImg, TextVQA, POPE, MME, MMBench, VQAv2, VizWiz)}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]()
