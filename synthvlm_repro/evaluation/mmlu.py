"""MMLU of the LLaVA model's language half, with lm-eval (``--model hf``), offline.

lm-eval's multimodal model class cannot score log-likelihoods (anchors.md B4), so the language
model (``model.language_model`` + ``lm_head``) is saved as a plain causal-LM dir first. The data
come from a local Hendrycks-layout folder (``data/{dev,test}/<subject>_{dev,test}.csv``), converted
to JSONL in cais/mmlu's schema; the kit writes its own lm-eval task YAMLs (same prompt, choices,
``first_n`` dev shots and per-category groups as lm-eval's ``mmlu``) pointing at those files, so
nothing is fetched from the hub.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
from pathlib import Path

import yaml

from synthvlm_repro.atomic import atomic_open, write_json, write_text
from synthvlm_repro.evaluation.mmlu_subjects import CATEGORY_OF, MMLU_CATEGORIES, MMLU_SUBJECTS
from synthvlm_repro.runtime.dtypes import library_dtype

TASK_PREFIX = "synthvlm_mmlu"
PROMPT = "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"


def extract_language_model(llava_dir: str, out_dir: Path) -> Path:
    """Save the language model of a llava-hf checkpoint (+ its tokenizer) as a causal-LM dir (cached)."""
    import torch
    from transformers import AutoModelForCausalLM

    from synthvlm_repro.runtime.llava import load_llava

    marker = out_dir / ".extracted_from"
    source = _identity(Path(llava_dir))
    if marker.exists() and marker.read_text() == source:
        return out_dir
    llava, processor = load_llava(llava_dir, dtype=None)  # as stored
    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(llava.config.text_config, dtype=llava.dtype)
    lm.model.load_state_dict(llava.model.language_model.state_dict(), assign=True)
    lm.lm_head.load_state_dict(llava.lm_head.state_dict(), assign=True)
    if lm.config.tie_word_embeddings:
        lm.tie_weights()
    lm.generation_config = llava.generation_config
    lm.save_pretrained(out_dir)
    processor.tokenizer.save_pretrained(out_dir)
    write_text(marker, source)
    return out_dir


def _identity(llava_dir: Path) -> str:
    """The checkpoint's path plus size and mtime of its files: a retrained checkpoint is re-extracted."""
    files = sorted(p for p in llava_dir.glob("*") if p.is_file()) if llava_dir.is_dir() else []
    return json.dumps([str(llava_dir)] + [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])


def convert_hendrycks_csv(data_dir: Path, out_dir: Path) -> Path:
    """``<subject>_{dev,test}.csv`` -> ``{dev,test}/<subject>.jsonl`` rows ``{question, subject, choices, answer}``."""
    for split in ("dev", "test"):
        for subject in MMLU_SUBJECTS:
            src = data_dir / split / f"{subject}_{split}.csv"
            if not src.exists():
                raise FileNotFoundError(f"{src}: MMLU file missing (expected the Hendrycks data/ layout)")
            rows = []
            with open(src, newline="", encoding="utf-8") as fh:
                for i, rec in enumerate(csv.reader(fh), 1):
                    if len(rec) != 6 or rec[5] not in ("A", "B", "C", "D"):
                        raise ValueError(f"{src}:{i}: expected question,A,B,C,D,answer-letter")
                    rows.append({"question": rec[0], "subject": subject, "choices": rec[1:5],
                                 "answer": "ABCD".index(rec[5])})
            with atomic_open(out_dir / split / f"{subject}.jsonl", "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in rows)
    return out_dir


def write_task_configs(jsonl_dir: Path, task_dir: Path, num_fewshot: int = 5) -> str:
    """lm-eval YAMLs: one task per subject on the local JSONL (shots recorded in the task), four category
    groups and one top group."""
    for subject in MMLU_SUBJECTS:
        cfg = {
            "task": f"{TASK_PREFIX}_{subject}", "task_alias": subject,
            "tag": f"{TASK_PREFIX}_{CATEGORY_OF[subject]}_tasks",
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {s: str(jsonl_dir / s / f"{subject}.jsonl") for s in ("dev", "test")}},
            "test_split": "test", "fewshot_split": "dev", "fewshot_config": {"sampler": "first_n"},
            "num_fewshot": num_fewshot,
            "output_type": "multiple_choice", "doc_to_text": PROMPT, "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "answer",
            "description": f"The following are multiple choice questions (with answers) about "
                           f"{subject.replace('_', ' ')}.\n\n",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
        write_text(task_dir / f"{TASK_PREFIX}_{subject}.yaml", yaml.safe_dump(cfg, sort_keys=False))
    weighted = [{"metric": "acc", "weight_by_size": True}]
    for category in MMLU_CATEGORIES:
        write_text(task_dir / f"_{TASK_PREFIX}_{category}.yaml", yaml.safe_dump(
            {"group": f"{TASK_PREFIX}_{category}", "group_alias": category,
             "task": [f"{TASK_PREFIX}_{category}_tasks"], "aggregate_metric_list": weighted,
             "metadata": {"version": 2}}, sort_keys=False))
    write_text(task_dir / f"_{TASK_PREFIX}.yaml", yaml.safe_dump(
        {"group": TASK_PREFIX, "task": [f"{TASK_PREFIX}_{c}" for c in MMLU_CATEGORIES],
         "aggregate_metric_list": weighted, "metadata": {"version": 2}}, sort_keys=False))
    return TASK_PREFIX


def aggregate_by_category(per_subject: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
    """``{subject: (acc, n)}`` -> ``{category|"all": (acc, n)}``, weighted by size (lm-eval's micro-average)."""
    sums: dict[str, list[float]] = {}
    for subject, (acc, n) in per_subject.items():
        for key in (CATEGORY_OF[subject], "all"):
            s = sums.setdefault(key, [0.0, 0])
            s[0] += acc * n
            s[1] += n
    return {k: (s[0] / s[1], int(s[1])) for k, s in sums.items() if s[1]}


def run_mmlu(lm_dir: Path, data_dir: Path, work_dir: Path, num_fewshot: int = 5, limit: int | None = None,
             batch_size: int = 1, device: str = "cpu", dtype: str = "auto") -> dict:
    """Evaluate ``lm_dir`` on all 57 subjects; returns ``{"subjects", "categories", "lm_eval_groups", ...}``
    and writes the same to ``work_dir/mmlu_results.json``."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    jsonl_dir = convert_hendrycks_csv(Path(data_dir), work_dir / "jsonl")
    task_dir = work_dir / "tasks"
    group = write_task_configs(jsonl_dir, task_dir, num_fewshot)
    out = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(lm_dir), "dtype": library_dtype(dtype)}, tasks=[group],
        batch_size=batch_size, device=device, limit=limit, log_samples=False, verbosity="WARNING",
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False))
    if out is None or "results" not in out:
        raise RuntimeError("lm-eval returned no results for MMLU")
    per_subject = {}
    for subject in MMLU_SUBJECTS:
        task = f"{TASK_PREFIX}_{subject}"
        per_subject[subject] = (float(out["results"][task]["acc,none"]), int(out["n-samples"][task]["effective"]))
    groups = {name.removeprefix(TASK_PREFIX).lstrip("_") or "all": float(out["results"][name]["acc,none"])
              for name in [TASK_PREFIX, *(f"{TASK_PREFIX}_{c}" for c in MMLU_CATEGORIES)]}
    used_shots = {int(out["configs"][f"{TASK_PREFIX}_{s}"]["num_fewshot"]) for s in MMLU_SUBJECTS}
    if used_shots != {num_fewshot}:
        raise RuntimeError(f"lm-eval ran MMLU with {sorted(used_shots)} shots, expected {num_fewshot}")
    record = {"num_fewshot": num_fewshot, "limit": limit, "batch_size": batch_size, "model": str(lm_dir),
              "subjects": {k: {"acc": a, "n": n} for k, (a, n) in per_subject.items()},
              "categories": {k: {"acc": a, "n": n} for k, (a, n) in aggregate_by_category(per_subject).items()},
              "lm_eval_groups": groups, "lm_eval_version": importlib.metadata.version("lm_eval")}
    write_json(work_dir / "mmlu_results.json", record)
    return record
