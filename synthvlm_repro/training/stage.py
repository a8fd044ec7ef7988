"""Stage 04 end to end: LLaVA-1.5 training phase 1 (projector alignment on stage 03's
``selection/llava_pretrain.json``) then phase 2 (instruction tuning), the loss curves, the label checks,
and captions of a few stage-1 images by the final checkpoint. What ``synthvlm-repro training run``, the
runner and notebook 04 call. Where the phases run (this process, torchrun or accelerate) is the
launcher's decision (``training.launch.run_training``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from synthvlm_repro.run_context import RunContext
from synthvlm_repro.stage import StageResult


def sample_captions(ctx: RunContext, checkpoint, n: int) -> pd.DataFrame:
    """Captions of the first ``n`` stage-1 images by ``checkpoint`` (``image, caption, generated``)."""
    from synthvlm_repro.training.caption import caption_images
    from synthvlm_repro.training.data import read_llava_json

    rows = [r for r in read_llava_json(ctx.paths.llava_pretrain_json) if r.get("image")][:n]
    pictures = [ctx.paths.llava_image_folder / r["image"] for r in rows]
    generated = caption_images(checkpoint, pictures, device=ctx.device) if pictures else []
    return pd.DataFrame({"image": [str(p) for p in pictures],
                         "caption": [r["conversations"][1]["value"] for r in rows], "generated": generated})


def run(ctx: RunContext, captions: int = 2) -> StageResult:
    """Train the phases the config asks for (each resumes, a finished one is kept), plot the loss curves
    to the run's ``figures/training_loss``, and caption ``captions`` stage-1 images with the last phase's
    checkpoint (0: skip; a quick look, nothing is written)."""
    from synthvlm_repro.training.launch import run_training
    from synthvlm_repro.training.plots import plot_loss_curves, read_losses

    ctx.record_stage_config("training")
    finals = run_training(ctx)
    result = StageResult("training")
    checks, losses = [], []
    for phase, final in sorted(finals.items()):
        label_check, log_history = ctx.paths.training_label_check(phase), ctx.paths.training_log_history(phase)
        result.artifacts.update({f"phase{phase}_final": final, f"phase{phase}_label_check": label_check,
                                 f"phase{phase}_log_history": log_history})
        check = json.loads(label_check.read_text()) if label_check.exists() else {}
        checks.append({"phase": phase, **{k: v for k, v in check.items() if k != "examples"}})
        if log_history.exists():
            steps, values = read_losses(log_history)
            losses += [{"phase": phase, "step": s, "loss": v} for s, v in zip(steps, values)]
            if values:
                result.summary[f"phase {phase} final loss"] = round(values[-1], 4)
        result.summary[f"phase {phase}"] = (f"{final} (label check: {check.get('fully_masked', '?')} of "
                                            f"{check.get('checked', '?')} samples train nothing)")
    written = plot_loss_curves(ctx.paths, smoke=ctx.smoke)
    result.artifacts.update({p.name: p for p in written})
    result.figures = [p for p in written if p.suffix == ".png"]
    result.tables.update({"label_checks": pd.DataFrame(checks), "losses": pd.DataFrame(losses)})
    if captions and finals and ctx.paths.llava_pretrain_json.exists():
        table = sample_captions(ctx, finals[max(finals)], captions)
        result.tables["sample_captions"] = table
        for row in table.itertuples():
            result.summary[f"caption of {Path(row.image).name}"] = row.generated
    return result
