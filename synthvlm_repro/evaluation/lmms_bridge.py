"""Optional: run lmms-eval's ``llava_hf`` model on a saved checkpoint (never a core dependency).

lmms-eval reads its datasets from the hub (cache them first, then set ``HF_DATASETS_OFFLINE=1``)
and its CLI exits 0 even when evaluation fails, so success is judged by the results file it leaves.
Its numbers differ from LLaVA's scripts in known ways (anchors.md B3: TextVQA OCR, POPE parsing,
MMBench judge, no Vicuna system prompt); use it as a cross-check, not as the kit's numbers.
Equivalent shell command: ``python -m lmms_eval --model llava_hf --model_args pretrained=DIR
--tasks gqa,pope,... --batch_size 1 --output_path OUT``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path


def lmms_eval_command(checkpoint: str, tasks: str, output_path: Path, limit: float | None = None,
                      device: str | None = None) -> list[str]:
    """The argv of one lmms-eval run (batch size 1, as LLaVA's scripts)."""
    model_args = f"pretrained={checkpoint}" + (f",device_map={device}" if device else "")
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args", model_args, "--tasks", tasks,
           "--batch_size", "1", "--output_path", str(output_path)]
    if limit is not None:
        cmd += ["--limit", f"{limit:g}"]
    return cmd


def find_results(output_path: Path) -> Path:
    """The newest ``*results*.json`` under ``output_path``; raises if lmms-eval left none."""
    found = sorted(Path(output_path).rglob("*results*.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise RuntimeError(f"lmms-eval wrote no results file under {output_path}: it failed (its exit code "
                           "is 0 even then); see its log above")
    return found[-1]


def run_lmms_eval(checkpoint: str, tasks: str, output_path: Path, limit: float | None = None,
                  device: str | None = None) -> Path:
    """Run lmms-eval and return its results file."""
    if importlib.util.find_spec("lmms_eval") is None:
        raise RuntimeError("lmms-eval is not installed (optional): pip install lmms-eval==0.7.3")
    output_path.mkdir(parents=True, exist_ok=True)
    before = set(output_path.rglob("*results*.json"))
    subprocess.run(lmms_eval_command(checkpoint, tasks, output_path, limit, device), check=True)
    result = find_results(output_path)
    if result in before:
        raise RuntimeError(f"lmms-eval wrote no new results file under {output_path}: it failed")
    return result
