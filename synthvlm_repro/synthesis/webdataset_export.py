"""Optional WebDataset tar shards of the finished images (for streaming loaders on clusters)."""

from __future__ import annotations

import json
from pathlib import Path

from synthvlm_repro.atomic import atomic_path


def write_webdataset(run_root: Path, manifest, out_dir: Path, shard_size: int) -> list[Path]:
    """``out_dir/{i:05d}.tar`` with ``<key>.<ext>`` image, ``.txt`` caption and ``.json`` manifest row per sample."""
    import webdataset as wds

    ok = manifest[manifest["status"] == "ok"].reset_index(drop=True)
    written = []
    for start in range(0, len(ok), shard_size):
        target = out_dir / f"{start // shard_size:05d}.tar"
        with atomic_path(target) as tmp, wds.TarWriter(str(tmp)) as sink:
            for row in ok.iloc[start:start + shard_size].to_dict("records"):
                path = Path(row["path"])
                sink.write({"__key__": path.stem.replace(".", "_"), path.suffix.lstrip("."): (run_root / path).read_bytes(),
                            "txt": row["caption"], "json": json.dumps(row, default=str)})
        written.append(target)
    return written
