"""Preference judgments (human rater and automatic judge share one JSONL schema) and win rates.

A judgment line is ``{"pair_id", "judge", "winner", ...}`` with ``winner`` one of ``synthetic``,
``original``, ``tie``. Lines are appended and flushed one at a time, so a crash loses at most the
answer being written; on reload the *last* line per ``(judge, pair_id)`` counts, so a corrected
answer replaces an earlier one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from synthvlm_repro.figures.reference import paper_numbers

WINNERS = ("synthetic", "original", "tie")
Z95 = 1.959963984540054


def append_jsonl(path: Path, record: dict) -> None:
    """Append one JSON line and force it to disk before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSONL file; a torn last line (crash mid-write) is ignored, any other bad line
    is an error naming the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(lines):
                break
            raise ValueError(f"{path}:{i}: not a JSON line ({e.msg})") from None
    return records


def load_judgments(files: Iterable[Path]) -> pd.DataFrame:
    """All judgments of the given JSONL files, last answer per ``(judge, pair_id)``."""
    records = []
    for path in files:
        for i, rec in enumerate(read_jsonl(path), 1):
            if rec.get("winner") not in WINNERS or "pair_id" not in rec or "judge" not in rec:
                raise ValueError(f"{path}: record {i}: needs pair_id, judge and winner in {WINNERS}")
            records.append(rec)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        return pd.DataFrame(columns=["pair_id", "judge", "winner"])
    return df.drop_duplicates(["judge", "pair_id"], keep="last").reset_index(drop=True)


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (well-behaved at small n and at 0 or 1)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(judgments: pd.DataFrame) -> pd.DataFrame:
    """Per judge: wins, losses, ties, n and the synthetic win rate in % with its 95% Wilson interval.

    Ties count half a win (the paper does not say how it handled ties; the tie count is reported).
    ``left_pick_rate`` (automatic judges asked in both orders): share of answers naming the left image,
    0.5 = no position bias.
    """
    rows = []
    for judge, group in judgments.groupby("judge", sort=True):
        counts = group["winner"].value_counts()
        wins, losses, ties = (int(counts.get(k, 0)) for k in WINNERS)
        n = wins + losses + ties
        low, high = wilson_interval(wins + 0.5 * ties, n)
        picks = [p for pair in group["picked_left"] if isinstance(pair, list) for p in pair] \
            if "picked_left" in group.columns else []
        rows.append({"judge": judge, "wins": wins, "losses": losses, "ties": ties, "n": n,
                     "win_rate": 100 * (wins + 0.5 * ties) / n, "ci_low": 100 * low, "ci_high": 100 * high,
                     "left_pick_rate": sum(picks) / len(picks) if picks else float("nan")})
    return pd.DataFrame(rows, columns=["judge", "wins", "losses", "ties", "n", "win_rate", "ci_low", "ci_high",
                                       "left_pick_rate"])


def preference_table(judgments: pd.DataFrame) -> pd.DataFrame:
    """This run's win rates followed by the paper's (GPT-4V, InternVL2, Human on 1K samples)."""
    run = win_rates(judgments).assign(source="this run")
    paper = []
    for name, ref in paper_numbers("preference").iterrows():
        n, rate = ref["n"], ref["win_rate"]
        low, high = wilson_interval(rate / 100 * n, int(n))  # computed here from the published rate and n
        paper.append({"judge": name, "n": n, "win_rate": rate, "ci_low": 100 * low, "ci_high": 100 * high,
                      "source": f"paper [{ref['source']}]; CI computed"})
    return pd.concat([run, pd.DataFrame(paper)], ignore_index=True)[
        ["judge", "source", "n", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high", "left_pick_rate"]]
