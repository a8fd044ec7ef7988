"""``python -m synthvlm_repro.toy [--run-dir DIR] [--set key=value ...]``: the toy experiment in one process.

Builds (or finds cached) every toy model, runs stages 01-03 through their package entry points, then
every arm x seed (stage 04 + 05 each), and records wall and CPU (user+sys) seconds per step in
``<run>/toy_experiment/timing.json``. The notebooks (``synthvlm-repro run --profile toy``) do the same
through papermill; this is the measured, kernel-free path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from contextlib import contextmanager

from synthvlm_repro.atomic import write_json


def _cpu() -> float:
    """User+sys seconds of this process and of its finished children (the arm workers, once joined)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def _step(timings: dict, name: str):
    wall, cpu = time.perf_counter(), _cpu()
    yield
    # the machine may be shared: the 1-min load average at the end says how far wall time is from CPU time
    timings[name] = {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(_cpu() - cpu, 1),
                     "load_avg": round(os.getloadavg()[0], 1)}
    print(f"[toy] {name}: {timings[name]}", flush=True)


def main(argv=None) -> None:
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.stage import run_stage
    from synthvlm_repro.toy import experiment
    from synthvlm_repro.toy.figure import plot_arms
    from synthvlm_repro.toy.registry import toy_path

    ap = argparse.ArgumentParser(prog="python -m synthvlm_repro.toy", description=__doc__)
    ap.add_argument("--profile", default="toy")
    ap.add_argument("--run-dir", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args(argv)
    ctx = prepare_run(args.profile, args.run_dir, args.overrides)
    timings: dict = {}
    for name in ("world", "benchmarks", "open-clip", "clip-vision", "llama", "judge", "generator"):
        with _step(timings, f"model {name}"):
            toy_path(name)
    with _step(timings, "01 curation"):
        run_stage("curation", ctx, progress=False)
    with _step(timings, "02 synthesis"):
        run_stage("synthesis", ctx, grid=False, progress=False)
    with _step(timings, "03 selection"):
        run_stage("selection", ctx, progress=False)
    timing_path = ctx.paths.toy_timing_json
    write_json(timing_path, {"steps": timings})
    with _step(timings, "04+05 arms x seeds"):
        table = experiment.run_experiment(ctx, args.profile, args.overrides)
    arms = json.loads(timing_path.read_text())
    arms.pop("steps", None)
    write_json(timing_path, {"steps": timings, "arms": arms,
                             "total": {k: round(sum(t[k] for t in timings.values()), 1) for k in ("wall_s", "cpu_s")}})
    plot_arms(table, ctx.paths.toy_arms_png.with_suffix(""), formats=("png",))
    report = experiment.write_report(ctx, table, {**timings, **arms})
    print(report.read_text())


if __name__ == "__main__":
    main()
