"""``synthvlm-repro curate``: stage 01 on a caption pool of any size, headless."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, add_shard_arg, context_from_args, shard_from_args

EPILOG = """sharded model steps (perplexity, CLIP, BLIP-ITM, judge), each shard resumable, the last one merges:
  synthvlm-repro curate --profile paper --shard 0/2 &  synthvlm-repro curate --profile paper --shard 1/2
  torchrun --nproc_per_node 4 -m synthvlm_repro.curation --profile paper --run-dir /scratch/synthvlm
  sbatch --array=0-15 --wrap 'synthvlm-repro curate --profile paper --run-dir /scratch/synthvlm \\
      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT'
  synthvlm-repro curate --profile paper --run-dir /scratch/synthvlm --merge   # if a merge is wanted by hand
Under torchrun each rank's judge replica takes its slice of the node's GPUs (8 GPUs, 4 ranks: 2 GPUs each)."""


def _cmd_curate(args: argparse.Namespace) -> int:
    from synthvlm_repro.curation.pipeline import curate
    from synthvlm_repro.curation.plots import save_curation_figures

    for key, value in (("source", args.source), ("num_proc", args.num_proc), ("max_captions", args.max_captions)):
        if value is not None:
            args.overrides.append(f"curation.{key}={value}")
    if args.skip_bad_rows:
        args.overrides.append("curation.skip_bad_rows=true")
    ctx = context_from_args(args)
    shard = shard_from_args(args)
    result = curate(ctx.cfg.curation, ctx.paths, ctx.device, ctx.cfg.seed, progress=not args.quiet,
                    shard=None if args.merge else shard, merge=args.merge)
    if result.partial:
        print(f"shard {shard.index}/{shard.count}: {len(result.curated):,} captions through the model steps; "
              "the last shard to finish merges (or run `curate --merge`)")
        return 0
    if not args.no_figures:
        save_curation_figures(result, ctx.cfg.curation, ctx.paths.figures, ctx.smoke)
    width = max(len(s["step"]) for s in result.funnel)
    for s in result.funnel:
        truncated = f"  truncated {s['truncated']:,}" if s.get("truncated") else ""
        print(f"{s['step']:<{width}}  kept {s['kept']:>10,}  dropped {s['dropped']:>10,}{truncated}")
    for line in result.skipped:
        print(f"skipped {line}")
    print(f"-> {ctx.paths.caption_json} ({len(result.curated):,} captions)")
    return 0


def register(subparsers) -> None:
    """Add the ``curate`` subcommand."""
    p = subparsers.add_parser(
        "curate", help="stage 01: filter a caption pool (rule filters, dedup, perplexity, image-text, LLM judge)",
        description="Read a caption pool (SynthVLM JSON, LLaVA JSON, JSONL, CSV or Parquet), apply the paper's "
                    "curation filters and write captions/{curated,rejected}.parquet, captions/captions.json and "
                    "captions/funnel.json in the run dir. Thresholds and switches are curation.* config keys "
                    "(see `synthvlm-repro config`), e.g. --set curation.judge_mode=off. Model steps resume "
                    "from captions/cache/ after a crash.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(p)
    p.add_argument("--source", default=None,
                   help="caption pool path (shorthand for --set curation.source=PATH; 'sample' = the kit's captions)")
    p.add_argument("--num-proc", type=int, default=None,
                   help="processes for the rule statistics (shorthand for --set curation.num_proc=N)")
    p.add_argument("--max-captions", type=int, default=None,
                   help="pass on only the first N survivors (shorthand for --set curation.max_captions=N)")
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="quarantine malformed rows into rejected.parquet instead of stopping at the first one")
    p.add_argument("--no-figures", action="store_true", help="do not write the funnel and histogram figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_shard_arg(p, "score part I of N of the model steps")
    p.add_argument("--merge", action="store_true",
                   help="merge the shards' cached scores into the outputs (fails if a shard is unfinished)")
    p.set_defaults(func=_cmd_curate)
