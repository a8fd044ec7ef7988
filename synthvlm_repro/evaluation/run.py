"""Stage 05's steps: answer every benchmark split, merge shards, score, MMLU, one tidy results table.

``evaluation.stage.run`` chains them in one process. They can also run apart (``synthvlm-repro
evaluate answer|score|mmlu``): ``answer`` once per GPU shard, then ``score`` merges the shard files and
writes ``evaluation/results.{csv,json}``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from synthvlm_repro.atomic import atomic_path, write_json
from synthvlm_repro.evaluation import inference
from synthvlm_repro.evaluation.benchmarks import Question, get_benchmark, read_json
from synthvlm_repro.evaluation.fast_generate import generate_options
from synthvlm_repro.evaluation.fixtures import LAYOUT_MARK, write_fixtures
from synthvlm_repro.models import model_revision, resolve_model
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.runtime.distributed import local_rank_device

log = logging.getLogger(__name__)
TINY_FALLBACK = "tiny:llava"
COLUMNS = ["benchmark", "split", "metric", "value", "n", "model", "checkpoint"]


def model_under_test(ctx: RunContext, allow_tiny_fallback: bool | None = None) -> tuple[str, str]:
    """``(label, loadable path or hub id)`` of the model to evaluate.

    ``evaluation.model`` if set, else stage 04's ``training/phase2/final``. When that is missing and
    the profile runs tiny models (or ``allow_tiny_fallback``), ``tiny:llava`` is used with a note.
    """
    ref = ctx.cfg.evaluation.model
    if ref:
        return ref, resolve_model(ref)
    final = ctx.paths.training_final_dir(2)
    if (final / "config.json").exists():
        return str(final.relative_to(ctx.paths.root)), str(final)
    fallback = ctx.smoke if allow_tiny_fallback is None else allow_tiny_fallback
    if not fallback:
        raise FileNotFoundError(f"{final}: no stage-04 checkpoint; train first or set evaluation.model=<llava-hf dir>")
    note = f"note: {final} not found (stage 04 not run); evaluating the untrained {TINY_FALLBACK} instead"
    print(note)
    log.warning(note)
    return TINY_FALLBACK, resolve_model(TINY_FALLBACK)


def data_root(ctx: RunContext) -> Path:
    """Where the benchmark files are: ``evaluation.data_dir``, or the fixtures (written when asked)."""
    ev = ctx.cfg.evaluation
    fixtures = ctx.paths.evaluation_fixtures
    if ev.fixtures:
        marker = fixtures / "README.txt"
        if not marker.exists() or LAYOUT_MARK not in marker.read_text(encoding="utf-8"):
            write_fixtures(fixtures)
        return fixtures
    if ev.data_dir:
        root = Path(resolve_model(ev.data_dir)).expanduser()  # a path, or toy:benchmarks
        if not root.is_dir():
            raise FileNotFoundError(f"evaluation.data_dir {root}: folder not found")
        return root
    raise ValueError("evaluation: set data_dir (LLaVA's playground/data/eval layout) or fixtures: true")


def answers_dir(ctx: RunContext) -> Path:
    return ctx.paths.evaluation_answers


def benchmark_questions(ctx: RunContext, name: str) -> dict[str, list[Question]]:
    """Questions per split of one benchmark, cut to ``evaluation.limit`` (MMBench: whole circular groups)."""
    bench = get_benchmark(name)
    splits = bench.questions(data_root(ctx), ctx.cfg.evaluation)
    limit = ctx.cfg.evaluation.limit
    if limit is None:
        return splits
    out = {}
    for split, qs in splits.items():
        keep = set(list(dict.fromkeys(bench.group_of(q.qid) for q in qs))[:limit])
        out[split] = [q for q in qs if bench.group_of(q.qid) in keep]
    return out


def _answer_settings(ctx: RunContext, checkpoint: str) -> dict:
    ev = ctx.cfg.evaluation
    return {"checkpoint": checkpoint, "revision": model_revision(checkpoint), "dtype": ev.dtype,
            "image_aspect_ratio": ev.image_aspect_ratio, "textvqa_ocr": ev.textvqa_ocr,
            "max_new_tokens": ev.max_new_tokens, "default_max_new_tokens": ev.default_max_new_tokens}


def _check_settings(ctx: RunContext, checkpoint: str) -> None:
    """Refuse to resume answers made by another model or with other decoding settings."""
    path = ctx.paths.evaluation_answer_settings
    settings = _answer_settings(ctx, checkpoint)
    if path.exists():
        old = read_json(path)
        if old != settings:
            changed = sorted(k for k in settings if old.get(k) != settings[k])
            raise ValueError(f"{path}: answers there were made with other settings ({', '.join(changed)}); "
                             f"delete {answers_dir(ctx)} or use another run dir")
    else:
        write_json(path, settings)


def answer(ctx: RunContext, rank: int = 0, world: int = 1) -> dict[str, dict[str, int]]:
    """Answer this shard's part of every benchmark split; returns ``{benchmark: {split: n answered}}``."""
    ev = ctx.cfg.evaluation
    _, checkpoint = model_under_test(ctx)
    _check_settings(ctx, checkpoint)
    device = local_rank_device(ctx.device)
    loaded = None  # loaded on first need, so a finished rerun costs no model load
    done: dict[str, dict[str, int]] = {}
    for name in ev.benchmarks:
        max_new = ev.max_new_tokens.get(name, ev.default_max_new_tokens)
        for split, qs in benchmark_questions(ctx, name).items():
            mine = inference.shard_of(qs, rank, world)
            path = inference.shard_path(answers_dir(ctx), name, split, rank, world)
            existing = inference.read_answers(path)
            if all(q.qid in existing for q in mine):
                done.setdefault(name, {})[split] = len(mine)
                continue
            loaded = loaded or inference.load_llava(checkpoint, device, ev.dtype)
            rows = inference.answer_questions(*loaded, mine, path, max_new, ev.batch_size,
                                              ev.image_aspect_ratio, desc=f"{name}/{split}",
                                              group_equal_length=ev.group_equal_length,
                                              generate_options=generate_options(ev.kv_cache, ev.compile_decoding))
            done.setdefault(name, {})[split] = len(rows)
    return done


def score(ctx: RunContext) -> list[dict]:
    """Merge shard answers, score every split (or write its submission file); returns tidy rows."""
    ev = ctx.cfg.evaluation
    label, checkpoint = model_under_test(ctx)
    root = data_root(ctx)
    rows = []
    for name in ev.benchmarks:
        bench = get_benchmark(name)
        for split, qs in benchmark_questions(ctx, name).items():
            answers = inference.merge_shards(answers_dir(ctx), name, split, qs)
            upload = bench.write_submission(root, split, qs, answers, ctx.paths.evaluation_submissions)
            if split in bench.submission_splits:
                n_rows = len(json.loads(upload.read_text(encoding="utf-8")))
                scores = [(split, "submission_rows", float(n_rows), len(answers))]
            else:
                scores = [(s.split, s.metric, s.value, s.n) for s in bench.score(root, split, answers, ev)]
            if upload is not None:
                print(f"{name}/{split}: upload file {upload}")
            rows += [dict(zip(COLUMNS, (name, sp, m, float(v), int(n), label, checkpoint))) for sp, m, v, n in scores]
    return rows


def mmlu(ctx: RunContext) -> list[dict]:
    """MMLU of the checkpoint's language model; tidy rows per category (and per subject)."""
    from synthvlm_repro.evaluation.mmlu import extract_language_model, run_mmlu

    ev = ctx.cfg.evaluation
    label, checkpoint = model_under_test(ctx)
    if ev.mmlu_data_dir:
        data = Path(ev.mmlu_data_dir).expanduser()
    elif ev.fixtures:
        data = data_root(ctx) / "mmlu" / "data"
    else:
        raise ValueError("evaluation.mmlu: set mmlu_data_dir (Hendrycks data/ layout) or fixtures: true")
    work = ctx.paths.evaluation_mmlu
    lm_dir = extract_language_model(checkpoint, ctx.paths.evaluation_mmlu_language_model)
    res = run_mmlu(lm_dir, data, work, ev.mmlu_num_fewshot, ev.mmlu_limit, ev.mmlu_batch_size,
                   ctx.device, ev.dtype)
    split = f"test_{ev.mmlu_num_fewshot}shot"
    rows = [dict(zip(COLUMNS, ("mmlu", split if cat == "all" else f"{split}/{cat}", "accuracy", 100 * v["acc"],
                               v["n"], label, checkpoint)))
            for cat, v in sorted(res["categories"].items(), key=lambda kv: kv[0] != "all")]
    return rows


def write_results(ctx: RunContext, rows: list[dict]) -> Path:
    """``evaluation/results.csv`` and ``results.json`` (the same tidy rows)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=COLUMNS)
    with atomic_path(ctx.paths.results_csv) as tmp:
        df.to_csv(tmp, index=False)
    write_json(ctx.paths.results_json, rows)
    return ctx.paths.results_csv

