"""Resumable model scoring: each model step writes its finished batches to Parquet parts as it goes,
so a crashed or interrupted run (a 70B judge over a million captions) restarts where it stopped.

Parts live in ``captions/cache/<step>-<hash>/``; the hash covers everything the scores depend on
(model, settings), so changing a setting never reuses stale scores. Each writer (a shard of a sharded
run) names its parts ``part-<writer>-NNNNNN.parquet``, so shards share one folder without clashing and
every reader sees all of them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_parquet


class IncompleteScoresError(ValueError):
    """A merge found captions that no shard has scored yet."""


class ScoreCache:
    """Scores of one step, keyed by caption id, persisted in Parquet parts."""

    def __init__(self, root: Path, step: str, identity: dict, flush_rows: int = 2048, writer: str = ""):
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
        self.dir = Path(root) / f"{step}-{digest}"
        self.flush_rows = flush_rows
        self._buffer: list[dict] = []
        self.scores: dict[str, dict] = {}
        for part in sorted(self.dir.glob("part-*.parquet")):
            for row in pq.read_table(part).to_pylist():
                self.scores[row.pop("id")] = row
        self._prefix = f"part-{writer}-" if writer else "part-"
        self._parts = len(list(self.dir.glob(f"{self._prefix}[0-9]*.parquet")))

    def add(self, ids: Sequence[str], rows: Sequence[dict]) -> None:
        for cid, row in zip(ids, rows):
            self.scores[cid] = row
            self._buffer.append({"id": cid, **row})
        if len(self._buffer) >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        write_parquet(self.dir / f"{self._prefix}{self._parts:06d}.parquet", pa.Table.from_pylist(self._buffer))
        self._parts += 1
        self._buffer = []


def score_batched(cache: ScoreCache, ids: Sequence[str], items: Sequence, score: Callable[[list], list[dict]],
                  batch_size: int, desc: str) -> list[dict]:
    """``score`` the items whose id the cache lacks, ``batch_size`` at a time; returns rows in ``ids`` order."""
    todo = [i for i, cid in enumerate(ids) if cid not in cache.scores]
    with tqdm(total=len(todo), desc=desc, unit="caption") as bar:
        for lo in range(0, len(todo), batch_size):
            idx = todo[lo:lo + batch_size]
            cache.add([ids[i] for i in idx], score([items[i] for i in idx]))
            bar.update(len(idx))
    cache.flush()
    return [cache.scores[cid] for cid in ids]
