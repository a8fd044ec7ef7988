"""Stage 05 end to end, in one process: answer every benchmark split (resumable), score, MMLU, the tidy
results table, the headline figure and a few answers beside their images. What ``synthvlm-repro
evaluation run`` (also ``evaluate all``), the runner and notebook 05 call.

On several GPUs run ``evaluate answer`` once per shard first: this run then only merges and scores.
"""

from __future__ import annotations

import pandas as pd

from synthvlm_repro.evaluation import run as steps
from synthvlm_repro.evaluation.inference import merged_path, read_answers
from synthvlm_repro.run_context import RunContext
from synthvlm_repro.stage import StageResult


def answer_examples(ctx: RunContext, questions: dict, limit: int = 6) -> list[tuple[str, object, str]]:
    """``(benchmark, question, answer text)`` for the first question of each benchmark's first split."""
    examples = []
    for benchmark, splits in questions.items():
        for split, qs in list(splits.items())[:1]:
            if qs:
                answers = read_answers(merged_path(steps.answers_dir(ctx), benchmark, split))
                examples.append((benchmark, qs[0], answers.get(qs[0].qid, {}).get("text", "")))
    return examples[:limit]


def _save(fig, stem, ctx: RunContext) -> list:
    import matplotlib.pyplot as plt

    from synthvlm_repro.plotting import save_figure

    try:
        return save_figure(fig, stem, smoke=ctx.smoke)
    finally:
        plt.close(fig)


def run(ctx: RunContext, figures: bool = True) -> StageResult:
    """Answer, score, MMLU (``evaluation.mmlu``); write ``evaluation/results.{csv,json}``, and with
    ``figures`` the headline bars and answer examples into the run's ``figures/``."""
    from synthvlm_repro.evaluation.report import headline_table, plot_answer_examples, plot_headlines

    ctx.record_stage_config("evaluation")
    ev = ctx.cfg.evaluation
    label, checkpoint = steps.model_under_test(ctx)
    questions = {name: steps.benchmark_questions(ctx, name) for name in ev.benchmarks}
    steps.answer(ctx)
    rows = steps.score(ctx)
    if ev.mmlu:
        rows += steps.mmlu(ctx)
    steps.write_results(ctx, rows)
    results = pd.DataFrame(rows, columns=steps.COLUMNS)
    headlines = headline_table(results)

    result = StageResult("evaluation", summary={"model": label, "checkpoint": checkpoint, "result rows": len(results)})
    result.summary.update({r.benchmark: round(r.value, 2) for r in headlines.itertuples()})
    result.tables.update({
        "questions": pd.DataFrame([{"benchmark": b, "split": s, "questions": len(qs)}
                                   for b, splits in questions.items() for s, qs in splits.items()]),
        "results": results, "headlines": headlines})
    result.artifacts.update({"results_csv": ctx.paths.results_csv, "results_json": ctx.paths.results_json,
                             "answers": steps.answers_dir(ctx)})
    if ctx.paths.evaluation_submissions.is_dir():
        result.artifacts["submissions"] = ctx.paths.evaluation_submissions
    if ev.mmlu:
        result.artifacts["mmlu"] = ctx.paths.evaluation_mmlu
    if figures:
        written = _save(plot_headlines(headlines, title=label), ctx.paths.figure("evaluation_headlines"), ctx)
        examples = answer_examples(ctx, questions)
        if examples:
            written += _save(plot_answer_examples(examples), ctx.paths.figure("evaluation_examples"), ctx)
        result.artifacts.update({p.name: p for p in written})
        result.figures = [p for p in written if p.suffix == ".png"]
    return result
