"""``reproduce.md`` of a run: profile, versions, hardware, every figure and the numbers side by side."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from synthvlm_repro.atomic import write_text
from synthvlm_repro.figures.build import FigureResult
from synthvlm_repro.figures.reference import load_reference
from synthvlm_repro.figures.tables import to_markdown
from synthvlm_repro.paths import find_project_root
from synthvlm_repro.run_context import RunContext

PACKAGES = ("synthvlm-repro", "torch", "torchvision", "transformers", "diffusers", "accelerate", "open_clip_torch",
            "scikit-image", "scikit-learn", "lm-eval", "papermill", "numpy", "pandas", "matplotlib")


def versions() -> dict[str, str]:
    """Python and the installed versions of the libraries the kit's numbers depend on."""
    out = {"python": sys.version.split()[0]}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def git_commit() -> str:
    """The kit's git commit (with ``-dirty`` when the tree has changes), or ``unknown``."""
    root = find_project_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha + ("-dirty" if dirty else "")) if sha else "unknown"


def hardware() -> dict[str, str]:
    """CPU, memory and GPUs of the machine writing the report."""
    info = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": str(os.cpu_count())}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = f"{pages * size / 2**30:.0f}"
    except (ValueError, OSError, AttributeError):
        pass
    import torch

    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["gpus"] = ", ".join(names)
    else:
        info["gpus"] = "none"
    return info


def settings_table(cfg):
    """This run's key settings beside the paper's (``dataset`` table of the reference numbers)."""
    import pandas as pd

    from synthvlm_repro.figures.reference import reference_source, reference_value

    def get(section, key):
        return getattr(getattr(cfg, section), key, None)

    rows = [("sampling steps", get("synthesis", "steps"), "sampling_steps"),
            ("image size (px)", get("synthesis", "width"), "image_size_px"),
            ("grid-search captions", get("synthesis", "grid_captions"), "grid_search_captions"),
            ("SSIM weight λ", get("selection", "ssim_weight"), "ssim_weight"),
            ("selected pairs (top k)", get("selection", "top_k"), "pairs"),
            ("t-SNE pairs per dataset", get("figures", "tsne_samples"), "tsne_pairs_per_dataset")]
    table = [{"setting": name, "this run": "–" if value is None else value,
              "paper": reference_value("dataset", "SynthVLM-100K", key),
              "source": reference_source("dataset", "SynthVLM-100K", key)} for name, value, key in rows]
    table.append({"setting": "preference pairs", "this run": get("figures", "preference_pairs"),
                  "paper": reference_value("preference", "Human", "n"),
                  "source": reference_source("preference", "Human", "n")})
    return pd.DataFrame(table)


def _kv_table(items: dict[str, str]) -> str:
    return "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in items.items())


def render_report(ctx: RunContext, results: list[FigureResult], figures_dir: Path) -> str:
    """The Markdown text of ``reproduce.md`` (figure links relative to the run dir)."""
    cfg = ctx.cfg
    lines = [f"# SynthVLM reproduction report — profile `{cfg.profile}`", ""]
    if ctx.smoke:
        lines += ["> **Smoke run — tiny random models.** Every number below is meaningless; it only shows that "
                  "the pipeline runs end to end.", ""]
    lines += [f"- created: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", f"- run dir: `{ctx.paths.root}`",
              f"- profile: `{cfg.profile}` — {cfg.description}", f"- kit commit: `{git_commit()}`",
              f"- effective config: `{ctx.paths.config_yaml.name}` in the run dir", "",
              "Paper numbers come from `synthvlm_repro/figures/reference_numbers.yaml`; each carries a source tag "
              "(" + ", ".join(f"{k}: {v}" for k, v in load_reference()["sources"].items()) + "). "
              "A dash means the paper's number was not found.", ""]
    lines += ["## settings: this run vs paper", "", to_markdown(settings_table(cfg)), ""]
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines += ["> **Figures that failed** (see the notebook log for the traceback): "
                  + "; ".join(f"{r.name}: {r.reason}" for r in failed), ""]
    rel = Path(os.path.relpath(figures_dir, ctx.paths.root))
    for r in results:
        lines.append(f"## {r.name.replace('_', ' ')}")
        lines.append("")
        if r.status != "made":
            lines += [f"_{r.status}: {r.reason}_", ""]
            continue
        pngs = [p for p in r.files if p.suffix == ".png"]
        lines += [f"![{r.name}]({(rel / p.name).as_posix()})" for p in pngs]
        lines.append("")
        if r.table is not None and len(r.table):
            lines += [to_markdown(r.table), ""]
        lines += ["files: " + ", ".join(f"`{(rel / p.name).as_posix()}`" for p in r.files), ""]
    lines += ["## versions", "", _kv_table(versions()), "## hardware", "", _kv_table(hardware())]
    return "\n".join(lines)


def write_report(ctx: RunContext, results: list[FigureResult], figures_dir: Path) -> Path:
    """Write ``<run>/reproduce.md`` atomically and return its path."""
    return write_text(ctx.paths.report_md, render_report(ctx, results, figures_dir))
