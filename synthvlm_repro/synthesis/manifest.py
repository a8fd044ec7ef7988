"""The manifest: per-shard journals written while generating, merged into ``synthesis/manifest.parquet``.

Each shard appends one JSON line per finished image to ``synthesis/parts/<shard>.jsonl`` (fsynced
after every batch, after the image files are in place), so a killed run loses at most the batch in
flight; a torn last line is cut off when the journal is reopened. The run's settings are stored once
in ``parts/settings-<hash>.json``; a row counts as done only if its settings hash matches the current
run and its image file exists. When every shard of a job has left its done marker, the last one to
finish merges the journals (any shard count, any number of restarts) into the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from synthvlm_repro.atomic import write_json, write_parquet
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.synthesis.plan import WorkItem

DONE_STATUSES = ("ok", "broken")


def settings_hash(settings: dict) -> str:
    """Hash of the settings without the weight revisions (a hub model's commit is only known once it is
    downloaded; the revisions are recorded, and regeneration checks them)."""
    core = {k: v for k, v in settings.items() if not k.endswith("_revision")}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


def job_hash(items: list[WorkItem], settings_id: str) -> str:
    """Identity of one job: its settings and exactly which items it covers."""
    h = hashlib.sha256(settings_id.encode())
    for item in items:
        h.update(f"{item.caption_id}\x1f{item.candidate}\n".encode())
    return h.hexdigest()[:12]


class Journal:
    """Append-only JSON-lines record of one shard's finished images."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(path)

    def append(self, rows: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            fh.flush()
            os.fsync(fh.fileno())


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def read_journals(parts_dir: Path) -> list[dict]:
    """Every complete row of every shard journal in ``parts_dir`` (a torn last line is ignored)."""
    rows = []
    for path in sorted(parts_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def finished_rows(rows: list[dict], settings_id: str, run_root: Path) -> dict[tuple[str, int], dict]:
    """(caption_id, candidate) -> the row of every finished image of these settings whose file exists."""
    done: dict[tuple[str, int], dict] = {}
    for row in rows:
        if row["settings_hash"] != settings_id or row["status"] not in DONE_STATUSES:
            continue
        path = run_root / row["path"]
        if path.exists() and path.stat().st_size > 0:
            done[(row["caption_id"], row["candidate"])] = row
    return done


def write_settings(parts_dir: Path, settings: dict) -> str:
    """Store the settings once per hash (again when they now know more revisions); returns the hash."""
    sid = settings_hash(settings)
    target = parts_dir / f"settings-{sid}.json"
    unknown = sum(v == "hub" for k, v in settings.items() if k.endswith("_revision"))
    if not target.exists() or unknown < sum(v == "hub" for k, v in json.loads(target.read_text()).items()
                                            if k.endswith("_revision")):
        write_json(target, settings)
    return sid


def mark_done(parts_dir: Path, shard: Shard, job: str) -> None:
    write_json(parts_dir / f"{shard.name}.done.json", {"job": job, "shard": shard.index, "count": shard.count})


def all_shards_done(parts_dir: Path, count: int, job: str) -> bool:
    for i in range(count):
        marker = parts_dir / f"{Shard(i, count).name}.done.json"
        if not marker.exists() or json.loads(marker.read_text()).get("job") != job:
            return False
    return True


class IncompleteManifestError(RuntimeError):
    """Some planned items have no finished or failed row yet."""


def merge_manifest(run_root: Path, parts_dir: Path, items: list[WorkItem], settings_id: str, target: Path):
    """Write the manifest (plan order, one row per item) from the journals; returns the DataFrame."""
    import pandas as pd

    rows = read_journals(parts_dir)
    done = finished_rows(rows, settings_id, run_root)
    failed = {(r["caption_id"], r["candidate"]): r for r in rows
              if r["settings_hash"] == settings_id and r["status"] == "failed"}
    settings = json.loads((parts_dir / f"settings-{settings_id}.json").read_text())
    out, missing = [], []
    for item in items:
        key = (item.caption_id, item.candidate)
        row = done.get(key) or failed.get(key)
        if row is None:
            missing.append(key)
            continue
        out.append({**row, **{k: v for k, v in settings.items() if k not in row}})
    if missing:
        raise IncompleteManifestError(f"{len(missing)} of {len(items)} images not generated yet "
                                      f"(first: {missing[0][0]!r} candidate {missing[0][1]}); rerun to resume")
    frame = pd.DataFrame(out)
    write_parquet(target, frame)
    return frame
