"""The doctor's checks, one function per aspect, each returning rows ``(stage, aspect, status, detail)``.

Status: ``ok``, ``warn`` (the run goes on, something is off or unknown), ``block`` (the run would fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synthvlm_repro.config import ProjectConfig
from synthvlm_repro.doctor import figures as fig
from synthvlm_repro.doctor.probes import Gpu, Resolution, resolve_model, resolve_open_clip
from synthvlm_repro.paths import RunPaths, find_project_root
from synthvlm_repro.stage import PIPELINE_STAGES

STAGES = {f"{number:02d}": name for number, name in PIPELINE_STAGES}
STAGE2_IMAGE_SETS = ("coco/train2017", "gqa/images", "ocr_vqa/images", "textvqa/train_images", "vg")


@dataclass(frozen=True)
class Row:
    stage: str
    aspect: str  # models | data | gpu | disk
    status: str  # ok | warn | block
    detail: str


def _worst(rows: list[Row]) -> str:
    order = {"ok": 0, "warn": 1, "block": 2}
    return max((r.status for r in rows), key=order.__getitem__, default="ok")


# ----------------------------------------------------------------------------- models


def stage_models(cfg: ProjectConfig) -> dict[str, list[tuple[str, str, str | None]]]:
    """``stage -> [(config key, model ref, open_clip pretrained tag or None)]`` of the models each stage loads."""
    c, out = cfg.curation, {s: [] for s in STAGES}
    if c.clip_min is not None:
        out["01"].append(("curation.clip_model", c.clip_model, c.clip_pretrained or ""))
    if c.itm_min is not None:
        out["01"].append(("curation.itm_model", c.itm_model, None))
    if c.judge_mode != "off" and c.judge_model:
        out["01"].append(("curation.judge_model", c.judge_model, None))
    if c.perplexity_max is not None and c.perplexity_scorer == "hf" and c.perplexity_lm:
        out["01"].append(("curation.perplexity_lm", c.perplexity_lm, None))
    s = cfg.synthesis
    out["02"] += [(f"synthesis.{k}", getattr(s, k), None) for k in ("model", "refiner", "vae") if getattr(s, k)]
    out["03"].append(("selection.clip_model", cfg.selection.clip_model, cfg.selection.clip_pretrained or ""))
    out["04"] += [("training.vision_tower", cfg.training.vision_tower, None),
                  ("training.language_model", cfg.training.language_model, None)]
    if cfg.evaluation.model:
        out["05"].append(("evaluation.model", cfg.evaluation.model, None))
    if cfg.figures.judge_enabled:
        out["06"].append(("figures.judge_model", cfg.figures.judge_model, None))
    return out


def check_models(cfg: ProjectConfig, cache_dir=None) -> list[Row]:
    rows = []
    for stage, refs in stage_models(cfg).items():
        found: list[Resolution] = []
        for key, ref, tag in refs:
            r = resolve_open_clip(ref, tag or None, cache_dir) if tag is not None else resolve_model(ref, cache_dir)
            found.append(Resolution(r.status, f"{key}={r.detail}"))
        if stage == "05" and not cfg.evaluation.model:
            found.append(Resolution("ok", "evaluation.model: stage 04's training/phase2/final"))
        for r in found:
            rows.append(Row(stage, "models", r.status, r.detail))
        if not found:
            rows.append(Row(stage, "models", "ok", "no model"))
    return rows


# ----------------------------------------------------------------------------- data


def _project_path(value: str) -> Path:
    """As training resolves its data: relative to the project root, absolute paths stay."""
    return find_project_root() / Path(value).expanduser()


def check_data(cfg: ProjectConfig, paths: RunPaths) -> list[Row]:
    rows: list[Row] = []
    c = cfg.curation
    if c.source == "sample":
        rows.append(Row("01", "data", "ok", "curation.source: the kit's sample captions"))
    else:
        source = Path(c.source).expanduser()
        if not source.is_file():
            rows.append(Row("01", "data", "block", f"curation.source {source}: file not found (`synthvlm-repro data list`)"))
        else:
            rows.append(Row("01", "data", "ok", f"curation.source {source} ({source.stat().st_size / 2**20:,.0f} MiB)"))
            if c.clip_min is not None or c.itm_min is not None:
                images = Path(c.image_root).expanduser() if c.image_root else source.parent
                if not images.is_dir():
                    rows.append(Row("01", "data", "block", f"curation.image_root {images}: folder not found "
                                                           "(the CLIP/ITM filters need the original images)"))
    if c.perplexity_max is not None and c.perplexity_scorer == "kenlm":
        files = {"curation.kenlm_model": c.kenlm_model, "curation.sentencepiece_model": c.sentencepiece_model}
        if not any(files.values()):
            rows.append(Row("01", "data", "warn", "perplexity filter off: no KenLM files "
                                                  "(`synthvlm-repro data fetch kenlm-wikipedia-en`)"))
        for key, value in files.items():
            if value and not Path(value).expanduser().is_file():
                rows.append(Row("01", "data", "block", f"{key} {value}: file not found"))
    rows.append(Row("02", "data", "ok", "reads stage 01's captions/captions.json"))
    rows.append(Row("03", "data", "ok", "reads stage 02's manifest and images"))
    q = cfg.selection.quality_dataset
    if q and q != "sample" and not Path(q).expanduser().is_file():
        rows.append(Row("03", "data", "warn", f"selection.quality_dataset {q}: not found (quality table skipped)"))
    rows += _training_data(cfg)
    rows += _evaluation_data(cfg)
    rows.append(Row("06", "data", "ok", "reads the run's artifacts"))
    for name, path in cfg.figures.tsne_datasets.items():
        if not Path(path).expanduser().is_file():
            rows.append(Row("06", "data", "warn", f"figures.tsne_datasets.{name} {path}: not found (dataset left out)"))
    return rows


def _training_data(cfg: ProjectConfig) -> list[Row]:
    t = cfg.training
    if not t.run_phase2:
        return [Row("04", "data", "ok", "phase 1 reads stage 03's llava_pretrain.json; phase 2 off")]
    if t.phase2_data == "sample-mix":
        return [Row("04", "data", "ok", "phase 2 data: the kit's sample mix")]
    data, images = _project_path(t.phase2_data), _project_path(t.phase2_image_folder)
    if not data.is_file():
        return [Row("04", "data", "block", f"training.phase2_data {data}: file not found "
                                            "(`synthvlm-repro data fetch llava-instruct-665k`)")]
    missing = [s for s in STAGE2_IMAGE_SETS if not (images / s).is_dir()]
    if missing:
        return [Row("04", "data", "block", f"training.phase2_image_folder {images}: missing {', '.join(missing)} "
                                            "(`synthvlm-repro data list --steps`)")]
    return [Row("04", "data", "ok", f"phase 2: {data.name} + {len(STAGE2_IMAGE_SETS)} image sets under {images}")]


def _evaluation_data(cfg: ProjectConfig) -> list[Row]:
    from synthvlm_repro.evaluation.benchmarks import get_benchmark

    e = cfg.evaluation
    if e.fixtures:
        return [Row("05", "data", "ok", "the kit's tiny benchmark fixtures")]
    rows = []
    if not e.data_dir:
        rows.append(Row("05", "data", "block", "evaluation.data_dir not set (LLaVA's eval tree: "
                                               "`synthvlm-repro data list --steps`, entry llava-eval)"))
    else:
        root = Path(e.data_dir).expanduser()
        absent = [b for b in e.benchmarks if not (root / get_benchmark(b).folder).is_dir()]
        if not root.is_dir() or absent:
            what = "folder not found" if not root.is_dir() else f"no folder for {', '.join(absent)}"
            rows.append(Row("05", "data", "block", f"evaluation.data_dir {root}: {what}"))
        else:
            rows.append(Row("05", "data", "ok", f"evaluation.data_dir {root}: {len(e.benchmarks)} benchmark folders"))
    if e.mmlu:
        if not e.mmlu_data_dir:
            rows.append(Row("05", "data", "block", "evaluation.mmlu_data_dir not set (`synthvlm-repro data fetch mmlu`)"))
        else:
            from synthvlm_repro.evaluation.mmlu_subjects import MMLU_SUBJECTS

            root = Path(e.mmlu_data_dir).expanduser()
            absent = [f"{s}/{x}_{s}.csv" for s in ("dev", "test") for x in MMLU_SUBJECTS
                      if not (root / s / f"{x}_{s}.csv").is_file()]
            status, detail = ("block", f"{len(absent)} of 114 files missing, e.g. {absent[0]}") if absent \
                else ("ok", "57 subjects x dev/test")
            rows.append(Row("05", "data", status, f"evaluation.mmlu_data_dir {root}: {detail}"))
    return rows


# ----------------------------------------------------------------------------- GPUs


def gpu_stages(cfg: ProjectConfig) -> dict[str, bool]:
    """Which stages need a GPU at this profile's scale (none with tiny models or ``device: cpu``)."""
    if cfg.tiny_models or cfg.device == "cpu":
        return {s: False for s in STAGES}
    c = cfg.curation
    return {"01": bool(stage_models(cfg)["01"]) and (c.judge_mode != "off" or c.clip_min is not None
                                                      or c.itm_min is not None),
            "02": True, "03": True, "04": True, "05": True, "06": cfg.figures.judge_enabled}


def gpu_needs(cfg: ProjectConfig, n_gpus: int) -> dict[str, tuple[float, str, bool] | None]:
    """``stage -> (GiB needed, basis, per GPU? else summed over GPUs)``; None where no figure fits the model."""
    t, out = cfg.training, {}
    c = cfg.curation
    if c.judge_mode != "off" and c.judge_model in fig.JUDGE_70B:
        out["01"] = (fig.gib(2 * 70.6e9) * 1.1, "judge 70B in bf16 (2 B/param) + 10 % for cache, summed over GPUs "
                                                 "(device_map=auto); estimate", False)
    elif c.judge_mode == "off" or not c.judge_model:
        out["01"] = (4.0, "CLIP ViT-B/32 + BLIP-ITM base; estimate", True)
    else:
        out["01"] = None
    s = cfg.synthesis
    out["02"] = (fig.sdxl_gib(s.batch_size, s.width * s.height, bool(s.refiner)),
                 f"SDXL fp16 weights + activations for batch {s.batch_size} at {s.width}x{s.height}; estimate", True) \
        if s.model in fig.SDXL else None
    out["03"] = (4.0, "CLIP ViT-B/32 fp16 + batched SSIM; estimate", True)
    if t.language_model in fig.VICUNA_7B:
        need = max(fig.phase1_gib(t.phase1.per_device_batch_size),
                   fig.phase2_gib(t.phase2.per_device_batch_size, n_gpus, t.max_length) if t.run_phase2 else 0)
        out["04"] = (need, f"phase 1 measured {fig.FIGURES['train_phase1_peak'].value} GiB at batch 32 scaled to "
                           f"{t.phase1.per_device_batch_size}; phase 2 ZeRO-3 16 B/param over {max(n_gpus, 1)} GPU(s) "
                           f"+ activations at batch {t.phase2.per_device_batch_size}", True)
    else:
        out["04"] = None
    out["05"] = (16.0, "LLaVA-1.5-7B bf16 ≈ 13 GiB + batch-1 decoding; estimate", True) \
        if t.language_model in fig.VICUNA_7B or cfg.evaluation.model in fig.LLAVA_7B else None
    out["06"] = (16.0, "llava-1.5-7b judge fp16; estimate", True) if cfg.figures.judge_model in fig.LLAVA_7B else None
    return out


def check_gpus(cfg: ProjectConfig, gpus: list[Gpu]) -> list[Row]:
    rows = []
    needs = gpu_needs(cfg, len(gpus))
    have = ", ".join(f"{g.name} {g.total_gib:.0f} GiB" for g in gpus) or "none"
    for stage, needed in gpu_stages(cfg).items():
        if not needed:
            rows.append(Row(stage, "gpu", "ok", f"not needed (device {cfg.device}{', tiny models' if cfg.tiny_models else ''})"))
            continue
        if not gpus:
            rows.append(Row(stage, "gpu", "block", "no CUDA GPU (torch.cuda.is_available() is False); "
                                                   f"profile {cfg.profile} runs these stages on GPUs"))
            continue
        need = needs.get(stage)
        if need is None:
            rows.append(Row(stage, "gpu", "warn", f"GPUs: {have}; no memory figure for this stage's model"))
            continue
        gib, basis, per_gpu = need
        available = min(g.total_gib for g in gpus) if per_gpu else sum(g.total_gib for g in gpus)
        where = "per GPU" if per_gpu else f"over {len(gpus)} GPU(s)"
        status = "ok" if available >= gib else "block"
        rows.append(Row(stage, "gpu", status, f"needs ≈{gib:.0f} GiB {where}, has {available:.0f} ({basis})"))
    return rows


# ----------------------------------------------------------------------------- estimates and disk


@dataclass(frozen=True)
class Estimate:
    stage: str
    gpu_hours: str  # text: the unit differs per figure (H200-h, A100-h) and some are unknown
    disk_bytes: float
    basis: str


def planned_captions(cfg: ProjectConfig, paths: RunPaths, captions: int | None) -> tuple[int, str]:
    """How many captions go into synthesis: given, the config's limits, stage 01's output, or the paper's 1M."""
    if captions:
        return captions, "--captions"
    limits = [x for x in (cfg.synthesis.limit, cfg.curation.max_captions) if x]
    if limits:
        return min(limits), "synthesis.limit / curation.max_captions"
    existing = paths.caption_json
    if existing.is_file():
        import ijson

        with open(existing, "rb") as fh:
            return sum(1 for _ in ijson.items(fh, "item")), str(existing)
    return fig.PAPER_CURATED_CAPTIONS, "the paper's 1M curated captions (paper.md §1.1)"


def estimates(cfg: ProjectConfig, paths: RunPaths, captions: int | None = None) -> tuple[list[Estimate], str]:
    """GPU-hours and disk per stage from :mod:`figures`; returns the estimates and the caption-count basis."""
    n, n_basis = planned_captions(cfg, paths, captions)
    s, sel, t = cfg.synthesis, cfg.selection, cfg.training
    images = n * s.repeat
    bpp = fig.FIGURES[f"{s.image_format if s.image_format != 'jpg' else 'jpeg'}_bytes_per_pixel"].value
    image_bytes = s.width * s.height * bpp
    tiny = cfg.tiny_models
    source = Path(cfg.curation.source).expanduser()
    pool_bytes = source.stat().st_size if cfg.curation.source != "sample" and source.is_file() else 0
    kept = min(sel.top_k or n, n)

    def hours(x: float, unit: str) -> str:
        return "— (tiny)" if tiny else f"{x:,.1f} {unit}"

    scale = (s.steps / 60) * (s.width * s.height / 1024**2)  # assumption: cost linear in steps x pixels
    phase2 = fig.FIGURES["train_phase2"].value if t.run_phase2 else 0.0
    out = [
        Estimate("01", "— (model steps not benchmarked)" if not tiny else "— (tiny)", 2 * pool_bytes,
                 f"rule filters {fig.FIGURES['rule_filters'].value:,.0f} captions/s on 2 CPU cores; outputs ≈ 2x the pool"),
        Estimate("02", hours(images / fig.FIGURES["synthesis"].value * scale / 3600, "H200-h"),
                 images * image_bytes * (2 if s.webdataset else 1),
                 f"{images:,} images of {s.width}x{s.height} {s.image_format}"),
        Estimate("03", hours(images / fig.FIGURES["scoring"].value / 3600, "H200-h"),
                 kept * image_bytes if sel.image_link == "copy" else 0, f"{images:,} pairs scored"),
        Estimate("04", "— (tiny)" if tiny else
                 f"{kept / fig.FIGURES['train_phase1'].value / 3600:,.1f} H200-h + ≈{phase2:.0f} A100-h",
                 0 if tiny else 2 * fig.checkpoint_bytes(False) + (2 * fig.checkpoint_bytes(True) if t.run_phase2 else 0),
                 f"phase 1 on {kept:,} samples; phase 2 per LLaVA's README; checkpoints 2-14 B/param"),
        Estimate("05", "— (not benchmarked at 7B)" if not tiny else "— (tiny)", 0, "answers and results"),
        Estimate("06", "—", 0, "figures"),
    ]
    return out, f"{n:,} captions ({n_basis})"


def check_disk(cfg: ProjectConfig, paths: RunPaths, ests: list[Estimate], free: tuple[Path, int]) -> list[Row]:
    """Cumulative disk need of the run dir against the free space of its filesystem: the stage whose
    outputs no longer fit blocks, and so does every later stage that writes anything."""
    where, free_bytes = free
    rows, total = [], 0.0
    for e in ests:
        total += e.disk_bytes
        if total <= free_bytes:
            rows.append(Row(e.stage, "disk", "ok", f"≈{e.disk_bytes / 1e9:,.1f} GB ({e.basis})"))
        elif e.disk_bytes > 0:
            rows.append(Row(e.stage, "disk", "block", f"≈{e.disk_bytes / 1e9:,.1f} GB ({e.basis}) brings the run to "
                                                      f"≈{total / 1e9:,.0f} GB; {free_bytes / 1e9:,.0f} GB free at {where}"))
        else:
            rows.append(Row(e.stage, "disk", "warn", f"writes little, but the run is past the {free_bytes / 1e9:,.0f} GB "
                                                     f"free at {where} by then"))
    return rows
