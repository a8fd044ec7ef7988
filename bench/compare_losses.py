"""Compare the per-step losses of two ``train_bench.py`` JSON files (same batches, same initial weights).

    python bench/compare_losses.py BASELINE.json NEW.json [--tol 0.01] [--json OUT.json]

Exit status 1 when any step's relative difference exceeds ``--tol`` (bf16 runs: rounding differs between
paths, so the tolerance is a few bf16 ulps of the loss, not zero).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("baseline")
    p.add_argument("new")
    p.add_argument("--tol", type=float, default=0.01, help="max relative loss difference per step (default 0.01)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    base, new = (json.loads(Path(x).read_text()) for x in (a.baseline, a.new))
    pairs = list(zip(base["losses"], new["losses"]))
    rel = [abs(x - y) / max(abs(x), 1e-12) for x, y in pairs]
    out = {"steps": len(pairs), "max_abs_diff": max(abs(x - y) for x, y in pairs), "max_rel_diff": max(rel),
           "tolerance": a.tol, "same_losses": max(rel) <= a.tol and len(base["losses"]) == len(new["losses"]),
           "mfu": [base.get("mfu"), new.get("mfu")], "samples_per_s": [base["samples_per_s"], new["samples_per_s"]],
           "speedup": round(new["samples_per_s"] / base["samples_per_s"], 3),
           "peak_mem_gib": [base.get("peak_mem_gib"), new.get("peak_mem_gib")],
           "baseline_switches": {k: base.get(k) for k in ("grad_ckpt", "attn", "liger", "compile", "grad_accum")},
           "new_switches": {k: new.get(k) for k in ("grad_ckpt", "attn", "liger", "compile", "grad_accum")}}
    print(json.dumps(out, indent=2))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["same_losses"] else 1


if __name__ == "__main__":
    sys.exit(main())
