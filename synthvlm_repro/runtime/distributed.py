"""Which part of the work this process does, and where: shards, ranks and devices from the launcher.

Launchers (torchrun, accelerate, SLURM via torchrun) describe a process with ``RANK``/``WORLD_SIZE``
(global) and ``LOCAL_RANK``/``LOCAL_WORLD_SIZE`` (on this node); an outer split across jobs (a SLURM
array) is given as ``--shard i/n``. Every stage reads them through these functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` of ``count``: items ``index::count`` (interleaved, so the shards stay balanced)."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """A file-name form that sorts: ``00003-of-00008``."""
        return f"{self.index:05d}-of-{self.count:05d}"

    def take(self, items: Sequence[T]) -> list[T]:
        return list(items[self.index::self.count])


def parse_shard(text: str) -> Shard:
    """``"i/n"`` (SLURM arrays: ``--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``)."""
    try:
        index, count = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected INDEX/COUNT, e.g. 0/8") from None
    if not (count >= 1 and 0 <= index < count):
        raise ValueError(f"--shard {text!r}: need 0 <= INDEX < COUNT")
    return Shard(index, count)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r}: expected an integer") from None


def rank() -> int:
    """This process's global rank (``RANK``, else 0)."""
    return _env_int("RANK", 0)


def world_size() -> int:
    """How many processes the launcher started in all (``WORLD_SIZE``, else 1)."""
    return _env_int("WORLD_SIZE", 1)


def local_rank() -> int:
    """This process's rank on its node (``LOCAL_RANK``, else 0)."""
    return _env_int("LOCAL_RANK", 0)


def local_world_size() -> int:
    """How many processes run on this node (``LOCAL_WORLD_SIZE``, else 1)."""
    return _env_int("LOCAL_WORLD_SIZE", 1)


def is_main_process() -> bool:
    """Rank 0: the process that does the once-per-job work (logging, cleanup, merging)."""
    return rank() == 0


def shard_from_env() -> Shard:
    """The launcher's split: shard ``RANK`` of ``WORLD_SIZE`` (``0/1`` when not launched)."""
    return Shard(rank(), world_size())


def current_shard(outer: Shard | None = None) -> Shard:
    """This process's shard: the launcher's ranks nested inside an optional outer ``--shard i/n`` (e.g. one
    SLURM array task running torchrun: array task 2 of 4 with 2 ranks each is rank 1 -> shard 5/8)."""
    outer = outer or Shard()
    inner = shard_from_env()
    return Shard(outer.index * inner.count + inner.index, outer.count * inner.count)


def local_rank_device(device: str) -> str:
    """The device this process uses when ``device`` is plain ``"cuda"``: under a launcher (``LOCAL_RANK``
    set) the first GPU of this rank's equal slice of the node's GPUs (``LOCAL_RANK`` x GPUs per rank),
    so 8 ranks on 8 GPUs take one each. Any other device (``cpu``, ``cuda:3``) is returned as is."""
    if device != "cuda" or "LOCAL_RANK" not in os.environ:
        return device
    import torch

    per_rank = max(1, torch.cuda.device_count() // local_world_size())
    return f"cuda:{local_rank() * per_rank}"


def cpu_cores_per_rank() -> int:
    """This process's share of the CPU cores it may run on, split among the ranks on this node."""
    return max(1, len(os.sched_getaffinity(0)) // local_world_size())
