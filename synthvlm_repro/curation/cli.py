"""``synthvlm-repro curation run`` (alias ``curate``): stage 01 on a caption pool of any size, headless."""

from __future__ import annotations

import argparse

from synthvlm_repro.cli_common import add_run_args, add_shard_arg, context_from_args

EPILOG = """sharded model steps (perplexity, CLIP, BLIP-ITM, judge), each shard resumable, the last one merges:
  synthvlm-repro curation run --profile paper --shard 0/2 &  synthvlm-repro curation run --profile paper --shard 1/2
  torchrun --nproc_per_node 4 -m synthvlm_repro.curation --profile paper --run-dir /scratch/synthvlm
  sbatch --array=0-15 --wrap 'synthvlm-repro curation run --profile paper --run-dir /scratch/synthvlm \\
      --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT'
  synthvlm-repro curation run --profile paper --run-dir /scratch/synthvlm --merge   # if a merge is wanted by hand
Under torchrun each rank's judge replica takes its slice of the node's GPUs (8 GPUs, 4 ranks: 2 GPUs each)."""


def _cmd_run(args: argparse.Namespace) -> int:
    from synthvlm_repro.curation.stage import run
    from synthvlm_repro.runtime.distributed import parse_shard

    for key, value in (("source", args.source), ("num_proc", args.num_proc), ("max_captions", args.max_captions)):
        if value is not None:
            args.overrides.append(f"curation.{key}={value}")
    if args.skip_bad_rows:
        args.overrides.append("curation.skip_bad_rows=true")
    ctx = context_from_args(args)
    result = run(ctx, shard=parse_shard(args.shard) if args.shard else None, merge=args.merge,
                 progress=not args.quiet, figures=not args.no_figures, preflight=args.preflight)
    if "doctor" in result.tables:
        print(result.tables["doctor"].to_string(index=False))
    if "funnel" in result.tables:
        funnel = result.tables["funnel"].to_dict("records")
        width = max(len(s["step"]) for s in funnel)
        for s in funnel:
            truncated = s.get("truncated")
            truncated = f"  truncated {int(truncated):,}" if truncated and truncated == truncated else ""  # NaN: none
            print(f"{s['step']:<{width}}  kept {s['kept']:>10,}  dropped {s['dropped']:>10,}{truncated}")
    for key, value in result.summary.items():
        for item in value if isinstance(value, list) else [value]:
            print(f"{key}: {item}")
    return 0


def _add_options(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--preflight", dest="preflight", action="store_true", default=None,
                   help="run the doctor's checks first (default: on real profiles, not smoke, unsharded)")
    p.add_argument("--no-preflight", dest="preflight", action="store_false", help="skip the doctor's checks")
    p.set_defaults(func=_cmd_run)


HELP = "stage 01: filter a caption pool (rule filters, dedup, perplexity, image-text, LLM judge)"
DESCRIPTION = ("Read a caption pool (SynthVLM JSON, LLaVA JSON, JSONL, CSV or Parquet), apply the paper's "
               "curation filters and write captions/{curated,rejected}.parquet, captions/captions.json, "
               "captions/funnel.json and the curation figures in the run dir. Thresholds and switches are "
               "curation.* config keys (see `synthvlm-repro config`), e.g. --set curation.judge_mode=off. Model "
               "steps resume from captions/cache/ after a crash.")


def register(subparsers) -> None:
    """Add ``curation run`` and its older spelling ``curate`` (the same command)."""
    group = subparsers.add_parser("curation", help=HELP, description=DESCRIPTION)
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_options(actions.add_parser("run", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                                    formatter_class=argparse.RawDescriptionHelpFormatter))
    _add_options(subparsers.add_parser("curate", help="alias of `curation run`", description=DESCRIPTION,
                                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter))
