"""Speed of stage 01's rule filters and dedup on generated captions, for 1 and 2 processes, beside Data-Juicer.

    python bench/curation_bench.py                 # 1M captions, 1 and 2 processes
    python bench/curation_bench.py --quick         # 100K captions
    python bench/curation_bench.py --lm-steps --device cuda   # also time the LM steps (tiny models)

    python bench/curation_bench.py --dj-python /path/dj-venv/bin/python --dedup-n 300000 --json out.json

Times the streaming path that ``synthvlm-repro curate`` runs (Parquet read → row checks → the five
Data-Juicer statistics → thresholds → outputs) with dedup and the model steps off, the bare statistics
kernel, and the default pipeline with exact + MinHash near-dedup on. ``--dj-python`` runs Data-Juicer 1.6.1
on the same pool in the same run (its own venv, see ``datajuicer.md``) and checks the kept sets are identical;
``--dedup-n`` times near-dedup alone against the datasketch path, with its peak memory per caption.
Targets (issue 14): ≥ 6x Data-Juicer side by side; near-dedup ≥ 20K captions/s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("a the red blue green small large old young dog cat man woman child car bus train boat house tree "
         "street field river mountain beach city park table chair window door sky cloud sun light shadow "
         "wooden stone glass metal painted standing sitting walking running holding looking next to near "
         "under over behind in front of with and on at photo picture view of two three several many white "
         "black yellow bright dark quiet busy morning evening night snow rain grass flowers bridge road").split()
EMOJI = "\U0001F600\u2764\ufe0f\U0001F44D\U0001F3FB\u2600"
FOREIGN = ["Красный трамвай", "一只橘色的猫", "公園のベンチ", "नमस्ते दुनिया", "Ένα μικρό σκάφος"]
FLAGGED = ["shit", "fucking", "xx2", "sexy"]

# (share, kind): roughly the mix of datajuicer.md §4's probe, mean length ~110 characters
MIX = [(0.50, "normal"), (0.10, "special"), (0.08, "repetitive"), (0.08, "numbers"), (0.08, "short"),
       (0.06, "whitespace"), (0.04, "char_repetitive"), (0.04, "flagged"), (0.02, "weird")]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_caption(rng: random.Random) -> str:
    """One synthetic caption of a randomly drawn kind."""
    r, acc = rng.random(), 0.0
    kind = MIX[-1][1]
    for share, name in MIX:
        acc += share
        if r < acc:
            kind = name
            break
    if kind == "normal":
        return _sentence(rng, rng.randint(8, 30))
    if kind == "special":
        return " ".join(rng.choice([rng.choice(WORDS), "!!!", "#1", "$$$", rng.choice(EMOJI), rng.choice(FOREIGN)])
                        for _ in range(rng.randint(4, 20)))
    if kind == "repetitive":
        unit = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        return " ".join([unit] * rng.randint(4, 20))
    if kind == "numbers":
        return _sentence(rng, rng.randint(6, 20)).replace(" ", f" {rng.randint(1, 2024)} ", 2)
    if kind == "short":
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
    if kind == "whitespace":
        return rng.choice(["\r\n", "\u00a0", "\u2009", "\u3000", "\t", "  "]).join(
            rng.choice(WORDS) for _ in range(rng.randint(6, 24)))
    if kind == "char_repetitive":
        return _sentence(rng, 5) + " " + rng.choice("ab!xo") * rng.randint(10, 80)
    if kind == "flagged":
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 20))]
        words.insert(rng.randrange(len(words)), rng.choice(FLAGGED))
        return " ".join(words)
    return rng.choice(["", "!!!???", "http://example.com/img_0042.jpg", "IMG_0042", "...", "\u00a0"])


def generate(n: int, seed: int = 20240601) -> list[str]:
    rng = random.Random(seed)
    return [make_caption(rng) for _ in range(n)]


def write_pool(captions: list[str], folder: Path) -> Path:
    """The captions as a Parquet pool (empty ones included: the run quarantines them as bad rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "pool.parquet"
    pq.write_table(pa.table({"id": [f"c{i:08d}" for i in range(len(captions))],
                             "caption": captions}), path, row_group_size=100_000)
    return path


def bench_pipeline(pool: Path, procs: int, normalize: bool, run_dir: Path, dedup: bool = False
                   ) -> tuple[float, float, list[dict], list[str]]:
    """One ``curate`` run; returns (seconds, CPU seconds, funnel, kept ids)."""
    from synthvlm_repro.config import load_config
    from synthvlm_repro.curation.pipeline import curate
    from synthvlm_repro.paths import RunPaths

    overrides = [f"curation.source={pool}", f"curation.num_proc={procs}", f"curation.normalize={normalize}",
                 "curation.perplexity_max=null", "curation.clip_min=null", "curation.itm_min=null",
                 "curation.judge_mode=off", "curation.max_captions=null", "curation.skip_bad_rows=true"]
    if not dedup:
        overrides += ["curation.exact_dedup=false", "curation.near_dedup_threshold=null"]
    cfg = load_config("paper", overrides)
    cpu0, start = _cpu_seconds(), time.perf_counter()
    result = curate(cfg.curation, RunPaths.for_run(run_dir), "cpu", cfg.seed, progress=False)
    return time.perf_counter() - start, _cpu_seconds() - cpu0, result.funnel, result.curated.column("id").to_pylist()


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _load() -> str:
    """The 1-minute load average, printed beside every figure (other jobs may share the cores)."""
    return f"load {os.getloadavg()[0]:.1f}"


def bench_kernel(captions: list[str]) -> float:
    from synthvlm_repro.curation.rules import load_flagged_words
    from synthvlm_repro.curation.stats import caption_stats

    flagged = load_flagged_words()
    start = time.perf_counter()
    caption_stats(captions, flagged)
    return time.perf_counter() - start


# --------------------------------------------------------------------------- Data-Juicer, in its own venv

def dj_worker(pool: str, words_dir: str, procs: int, out: str) -> None:
    """Runs inside Data-Juicer's venv (``--dj-python``): the paper's five filters through DJ's Python API on
    the pool's captions, in recipe order; writes the seconds and the kept ids to ``out``."""
    import json

    import pyarrow.parquet as pq
    from data_juicer.utils.lazy_loader import LazyLoader

    def refuse(*args, **kwargs):  # datajuicer.md §1: DJ would pip/uv-install missing modules at run time
        raise RuntimeError(f"Data-Juicer tried to install a package: {args}")

    LazyLoader._install_package = staticmethod(refuse)
    from data_juicer.core.data import NestedDataset
    from data_juicer.ops.filter import (AlphanumericFilter, CharacterRepetitionFilter, FlaggedWordFilter,
                                        SpecialCharactersFilter, WordRepetitionFilter)

    table = pq.read_table(pool, columns=["id", "caption"])
    dataset = NestedDataset.from_dict({"text": table.column("caption").to_pylist(),
                                       "id": table.column("id").to_pylist()})
    ops = [AlphanumericFilter(tokenization=False, min_ratio=0.60, num_proc=procs),  # the paper profile's values
           CharacterRepetitionFilter(rep_len=10, max_ratio=0.09373663, num_proc=procs),
           FlaggedWordFilter(lang="en", tokenization=False, max_ratio=0.0, flagged_words_dir=words_dir,
                             num_proc=procs),
           SpecialCharactersFilter(min_ratio=0.16534802, max_ratio=0.42023757, num_proc=procs),
           WordRepetitionFilter(lang="en", tokenization=False, rep_len=10, max_ratio=0.03085751, num_proc=procs)]
    start = time.perf_counter()
    for op in ops:
        dataset = op.run(dataset)
    seconds = time.perf_counter() - start
    Path(out).write_text(json.dumps({"seconds": seconds, "kept": list(dataset["id"])}))


def bench_datajuicer(dj_python: str, pool: Path, procs: int, folder: Path) -> tuple[float, list[str]]:
    """Data-Juicer 1.6.1 on the same pool, as a subprocess of its own venv's python; (seconds, kept ids)."""
    import json
    import subprocess

    from synthvlm_repro.curation.rules import load_flagged_words

    words_dir = folder / "dj_words"
    words_dir.mkdir(exist_ok=True)
    (words_dir / "flagged_words.json").write_text(json.dumps({"en": sorted(load_flagged_words())}))
    out = folder / f"dj_np{procs}.json"
    cache = folder / "dj_cache"
    env = {**os.environ, "DATA_JUICER_CACHE_HOME": str(cache), "HF_DATASETS_CACHE": str(cache / "hf"),
           "PYTHONPATH": ""}
    proc = subprocess.run([dj_python, __file__, "--dj-worker", str(pool), str(words_dir), str(procs), str(out)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode:
        raise RuntimeError(f"Data-Juicer run ({dj_python}) failed:\n{proc.stderr[-3000:]}")
    data = json.loads(out.read_text())
    return data["seconds"], data["kept"]


# --------------------------------------------------------------------------- near-dedup alone


def _datasketch_near_duplicates(ids: list[str], captions: list[str]) -> list[str | None]:
    """The former path: one datasketch MinHash per caption, query, insert the kept ones."""
    from datasketch import MinHash, MinHashLSH

    from synthvlm_repro.curation.dedup import shingles

    lsh, order, dup = MinHashLSH(threshold=0.8, num_perm=128), {}, []
    for i, (cid, caption) in enumerate(zip(ids, captions)):
        mh = MinHash(num_perm=128, seed=0)
        mh.update_batch(shingles(caption, 3))
        hits = lsh.query(mh)
        if hits:
            dup.append(min(hits, key=order.__getitem__))
            continue
        order[cid] = i
        lsh.insert(cid, mh)
        dup.append(None)
    return dup


def dedup_worker(n: int, procs: int, impl: str) -> None:
    """Runs in a fresh process: exact dedup of ``n`` generated captions, then MinHash-LSH near-dedup of the
    survivors (``impl``: ``kit`` or ``datasketch``, the former one-MinHash-per-caption path), timed; then the
    same again under ``tracemalloc`` for the peak memory it allocates in this process (numpy included; the
    kit's workers hold one batch each), on at most 20,000 captions for datasketch. Prints one JSON line."""
    import json
    import tracemalloc

    from synthvlm_repro.curation.dedup import exact_duplicates, near_duplicates

    captions = generate(n)
    ids = [f"c{i:08d}" for i in range(n)]
    start = time.perf_counter()
    exact = exact_duplicates(ids, captions)
    exact_s = time.perf_counter() - start
    ids = [i for i, d in zip(ids, exact) if d is None]
    captions = [c for c, d in zip(captions, exact) if d is None]
    run = ((lambda i, c: near_duplicates(i, c, progress=False, num_proc=procs)) if impl == "kit"
           else _datasketch_near_duplicates)
    run(ids[:10], captions[:10])  # imports, the LSH parameter search
    start = time.perf_counter()
    dup = run(ids, captions)
    seconds = time.perf_counter() - start
    m = len(ids) if impl == "kit" else min(len(ids), 20_000)
    tracemalloc.start()
    run(ids[:m], captions[:m])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"impl": impl, "procs": procs, "n": n, "exact_s": exact_s, "after_exact": len(ids),
                      "near_s": seconds, "near_dropped": sum(d is not None for d in dup),
                      "traced_captions": m, "peak_mb": peak / 2**20, "bytes_per_caption": peak / m}))


def bench_dedup(n: int, procs: int, impl: str) -> dict:
    import json
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--dedup-worker", str(n), str(procs), impl],
                          check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_lm_steps(device: str, n: int) -> None:
    """Throughput of the judge and the HF perplexity scorer on the tiny models (real weights: pass refs)."""
    from synthvlm_repro.curation.judge import CaptionJudge
    from synthvlm_repro.curation.perplexity import HFPerplexity

    captions = [c for c in generate(4 * n, seed=1) if len(c) > 40][:n]
    for name, model, batch in (("judge (tiny:judge-lm)", CaptionJudge("tiny:judge-lm", device), 32),
                               ("perplexity (tiny:vicuna)", HFPerplexity("tiny:vicuna", device), 64)):
        start = time.perf_counter()
        for lo in range(0, len(captions), batch):
            model(captions[lo:lo + batch])
        dt = time.perf_counter() - start
        print(f"{name:<28} {device}: {len(captions) / dt:10,.0f} captions/s ({len(captions)} captions)")


def _bench_rules_and_pipeline(args, n: int, captions: list[str], procs_list: list[int], folder: Path,
                              record) -> None:
    """The statistics kernel, the rule-filter runs (beside Data-Juicer) and the default pipeline."""
    pool = write_pool(captions, folder)
    dt = bench_kernel(captions)
    print(f"{'statistics kernel, 1 process':<44} {n / dt:10,.0f} captions/s  ({dt:.1f} s; {_load()})")
    record("stats kernel, 1 process", n / dt)
    rates, kept = {}, {}
    for procs in procs_list:
        dt, cpu, funnel, kept[procs] = bench_pipeline(pool, procs, args.normalize, folder / f"run{procs}")
        rates[procs] = n / dt
        print(f"{f'curate, rule filters, {procs} process(es)':<44} {n / dt:10,.0f} captions/s  ({dt:.1f} s, "
              f"{n / dt * 60 / 1e6:.2f} M/min; {cpu:.1f} CPU-s; kept {len(kept[procs]):,}; {_load()})")
        record(f"curate rule filters, {procs} process(es)", n / dt, seconds=dt, cpu_s=cpu, kept=len(kept[procs]))
        if args.dj_python:
            dj_s, dj_kept = bench_datajuicer(args.dj_python, pool, procs, folder)
            same = set(dj_kept) == set(kept[procs])
            print(f"{f'Data-Juicer 1.6.1, 5 filters, np={procs}':<44} {n / dj_s:10,.0f} captions/s  "
                  f"({dj_s:.1f} s; kept {len(dj_kept):,}, {'identical' if same else 'DIFFERENT'} kept set; "
                  f"kit is {rates[procs] * dj_s / n:.2f}x; {_load()})")
            record(f"Data-Juicer 5 filters, np={procs}", n / dj_s, seconds=dj_s, kept=len(dj_kept),
                   identical_kept=same, kit_ratio=rates[procs] * dj_s / n)
    print("funnel:", ", ".join(f"{s['step']} -{s['dropped']:,}" for s in funnel))
    if not args.dj_python:
        print("Data-Juicer not run side by side: pass --dj-python PATH (a venv with py-data-juicer 1.6.1).")
    for procs in procs_list:
        dt, cpu, funnel, ids = bench_pipeline(pool, procs, True, folder / f"dedup{procs}", dedup=True)
        print(f"{f'curate, default (norm+rules+dedup), {procs} proc':<44} {n / dt:10,.0f} captions/s  "
              f"({dt:.1f} s; {cpu:.1f} CPU-s; kept {len(ids):,}; {_load()})")
        record(f"curate default (normalise + rules + exact + near dedup), {procs} process(es)", n / dt, seconds=dt,
               cpu_s=cpu, kept=len(ids), funnel=funnel)
    print("funnel:", ", ".join(f"{s['step']} -{s['dropped']:,}" for s in funnel))

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="captions to generate (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 captions instead")
    parser.add_argument("--procs", default="1,2", help="process counts to time, comma-separated (default 1,2)")
    parser.add_argument("--normalize", action="store_true",
                        help="also run the two normalisation mappers (ftfy + punctuation), off by default")
    parser.add_argument("--dj-python", help="python of a venv with py-data-juicer 1.6.1: run DJ side by side")
    parser.add_argument("--dedup-n", type=int, default=0,
                        help="also time near-dedup alone on this many captions, kit vs datasketch (0 = skip)")
    parser.add_argument("--dedup-only", action="store_true", help="only the --dedup-n timings")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="device for --lm-steps")
    parser.add_argument("--lm-steps", action="store_true", help="also time the judge and perplexity LMs (tiny)")
    parser.add_argument("--lm-n", type=int, default=256, help="captions for --lm-steps (default 256)")
    parser.add_argument("--dj-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--dedup-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.dj_worker:
        pool, words_dir, procs, out = args.dj_worker
        dj_worker(pool, words_dir, int(procs), out)
        return 0
    if args.dedup_worker:
        dedup_worker(int(args.dedup_worker[0]), int(args.dedup_worker[1]), args.dedup_worker[2])
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    n = 100_000 if args.quick else args.n
    procs_list = [int(p) for p in args.procs.split(",")]
    report: dict = {"n": n, "cpu_count": os.cpu_count(), "runs": []}

    def record(name: str, rate: float, **extra) -> None:
        report["runs"].append({"run": name, "captions_per_s": rate, "load_1min": os.getloadavg()[0], **extra})

    if not args.dedup_only:
        t0 = time.perf_counter()
        captions = generate(n)
        print(f"generated {n:,} captions in {time.perf_counter() - t0:.1f} s "
              f"(mean {sum(map(len, captions)) / n:.0f} characters); cpu_count={os.cpu_count()}; {_load()}")
        with tempfile.TemporaryDirectory(prefix="curation-bench-") as tmp:
            _bench_rules_and_pipeline(args, n, captions, procs_list, Path(tmp), record)
        del captions
    if args.dedup_n:
        for impl, procs in [("datasketch", 1)] + [("kit", p) for p in procs_list]:
            r = bench_dedup(args.dedup_n, procs, impl)
            rate = r["after_exact"] / r["near_s"]
            print(f"{f'near-dedup {impl}, {procs} process(es)':<44} {rate:10,.0f} captions/s  ({r['near_s']:.1f} s "
                  f"on {r['after_exact']:,} after exact dedup; dropped {r['near_dropped']:,}; peak {r['peak_mb']:,.1f} MB "
                  f"on {r['traced_captions']:,} = {r['bytes_per_caption']:,.0f} B/caption; exact dedup {r['n'] / r['exact_s']:,.0f}/s; {_load()})")
            record(f"near-dedup {impl}, {procs} process(es)", rate, **r)
    if args.json:
        Path(args.json).write_text(__import__("json").dumps(report, indent=1) + "\n")
    if args.lm_steps:
        bench_lm_steps(args.device, args.lm_n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
