"""``synthvlm-repro evaluate {run,all,answer,score,mmlu,fixtures,lmms-eval}`` (also spelled ``evaluation``):
stage 05 from the command line."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, add_shard_arg, context_from_args, shard_from_args

EPILOG = """\
steps:
  run        the whole stage in one process (what notebook 05 runs): answer + score + MMLU, write
             evaluation/results.{csv,json} and the figures evaluation_headlines / evaluation_examples
  all        the same as run
  answer     answer this shard's questions (resumable); run once per GPU, e.g.
               for i in 0 1 2 3 4 5 6 7; do CUDA_VISIBLE_DEVICES=$i synthvlm-repro evaluate answer \\
                 --profile paper --shard $i/8 & done; wait
             (under torchrun the shard comes from RANK / WORLD_SIZE, nested inside --shard)
  score      merge the shard answer files, score, write submissions/ and results.{csv,json}
  mmlu       MMLU only (lm-eval on the extracted language model); appended to the results table
  fixtures   write the tiny benchmark sets (LLaVA layout) into DIR (--out) and exit
  lmms-eval  optional: run lmms-eval's llava_hf on the checkpoint (if lmms-eval is installed)
"""


def _cmd(args: argparse.Namespace) -> int:
    from synthvlm_repro.evaluation import run

    if args.step == "fixtures":
        from synthvlm_repro.evaluation.fixtures import write_fixtures

        if not args.out:
            raise ValueError("evaluate fixtures: --out DIR is required")
        print(write_fixtures(args.out))
        return 0
    ctx = context_from_args(args)
    if args.step == "lmms-eval":
        from synthvlm_repro.evaluation.lmms_bridge import run_lmms_eval

        _, checkpoint = run.model_under_test(ctx)
        print(run_lmms_eval(checkpoint, args.lmms_tasks, ctx.paths.evaluation_lmms_eval, limit=args.lmms_limit))
        return 0
    if args.step == "answer":
        shard = shard_from_args(args)
        done = run.answer(ctx, shard.index, shard.count)
        print(f"shard {shard}: " + ", ".join(f"{b}/{s}={n}" for b, d in done.items() for s, n in d.items()))
        return 0
    if args.step in ("run", "all"):
        from synthvlm_repro.cli_common import print_stage_result
        from synthvlm_repro.stage import run_stage

        result = run_stage("evaluation", ctx)
        print(result.tables["results"].drop(columns=["model", "checkpoint"]).to_string(index=False))
        print_stage_result(result)
        return 0
    rows = run.score(ctx) if args.step == "score" else []
    if args.step == "mmlu" or (args.step == "score" and ctx.cfg.evaluation.mmlu and args.with_mmlu):
        rows += run.mmlu(ctx)
    if ctx.paths.results_json.exists():  # keep the earlier rows of benchmarks not rerun now
        import json

        fresh = {r["benchmark"] for r in rows} | ({"mmlu"} if args.step == "mmlu" else set())
        rows = [r for r in json.loads(ctx.paths.results_json.read_text()) if r["benchmark"] not in fresh] + rows
    run.write_results(ctx, rows)
    import pandas as pd

    df = pd.DataFrame(rows, columns=run.COLUMNS)
    print(df.to_string(index=False))
    print(f"-> {ctx.paths.results_csv}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", aliases=["evaluation"],
        help="stage 05: LLaVA-protocol VQA benchmarks and MMLU of a llava-hf checkpoint (evaluation run: all of it)",
        description="Evaluate a llava-hf checkpoint (evaluation.model, default training/phase2/final) on local "
                    "benchmark files in LLaVA's eval layout (evaluation.data_dir) and MMLU with lm-eval.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["run", "all", "answer", "score", "mmlu", "fixtures", "lmms-eval"],
                   help="which step to run (see below)")
    add_run_args(p)
    add_shard_arg(p, "answer: answer part I of N of the questions")
    p.add_argument("--with-mmlu", action="store_true",
                   help="score: also run MMLU (if evaluation.mmlu) before writing the results table")
    p.add_argument("--out", default=None, help="fixtures: folder to write the tiny benchmark sets into")
    p.add_argument("--lmms-tasks", default="gqa,pope,mme,scienceqa_img,textvqa_val,mmbench_en_dev_static",
                   help="lmms-eval: comma-separated lmms-eval task names (default: the API-free LLaVA set)")
    p.add_argument("--lmms-limit", type=float, default=None, help="lmms-eval: --limit N or fraction (smoke tests)")
    p.set_defaults(func=_cmd)
