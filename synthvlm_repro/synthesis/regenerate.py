"""Re-render images from a manifest alone: its rows carry model ids, revisions, settings, seeds and batches."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from tqdm.auto import tqdm

from synthvlm_repro.atomic import write_bytes
from synthvlm_repro.synthesis.config import SynthesisConfig
from synthvlm_repro.synthesis.images import encode
from synthvlm_repro.models import model_revision
from synthvlm_repro.path_policy import PathPolicyError, resolve_within
from synthvlm_repro.synthesis.pipelines import ImageGenerator

log = logging.getLogger(__name__)
CONFIG_COLUMNS = ("model", "refiner", "vae", "drop_components", "scheduler", "dtype", "variant", "attention", "compile", "vae_upcast",
                  "steps", "guidance_scale", "width", "height", "negative_prompt", "high_noise_frac",
                  "max_sequence_length", "batch_size", "batch_invariant", "image_format", "jpeg_quality")


def _clean(value):
    if hasattr(value, "tolist"):  # list columns come back as numpy arrays
        return value.tolist()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def config_from_row(row: dict) -> SynthesisConfig:
    """The synthesis settings a manifest row was made with."""
    values = {k: _clean(row[k]) for k in CONFIG_COLUMNS if k in row}
    values.setdefault("batch_invariant", False)  # manifests from before the switch
    for key in ("refiner", "vae", "scheduler"):
        values[key] = values[key] or None
    return SynthesisConfig(**values)


def regenerate(manifest: str | Path, out_root: str | Path, device: str = "cpu", only_missing: bool = False,
               progress: bool = True) -> list[Path]:
    """Render every ``ok``/``broken`` row of ``manifest`` again into ``out_root/<path>``.

    Rows are re-batched exactly as they were generated (same batch index, same retry sub-batch), so
    on the same hardware the files come out byte-identical. Returns the written paths. Every path must
    stay inside ``out_root`` (:mod:`synthvlm_repro.path_policy`): one that does not (``../x.jpg``, an
    absolute path, none at all) is a one-line error naming the manifest row, raised before anything is written.
    """
    import pandas as pd

    frame = pd.read_parquet(manifest)
    frame = frame[frame["status"].isin(["ok", "broken"])]
    out_root = Path(out_root)
    targets = {}
    for index, cid, candidate, path in zip(frame.index, frame["caption_id"], frame["candidate"], frame["path"]):
        try:
            targets[path] = resolve_within(out_root, path, what="path")
        except PathPolicyError as e:
            raise PathPolicyError(f"{manifest}: row {index} (caption_id {cid!r} candidate {candidate}): {e}; "
                                  "nothing written") from None
    wanted = {p for p, target in targets.items() if not (only_missing and target.exists())}
    written: list[Path] = []
    bar = tqdm(total=len(wanted), desc="regenerate", unit="img", disable=not progress)
    for _, rows in frame.groupby("settings_hash", sort=False):
        cfg = config_from_row(rows.iloc[0].to_dict())
        for ref, recorded in ((cfg.model, rows.iloc[0]["model_revision"]),
                              (cfg.refiner, rows.iloc[0]["refiner_revision"])):
            if ref and recorded and model_revision(ref) != recorded:
                log.warning("%s: weights now %s, manifest has %s: images will differ", ref, model_revision(ref),
                            recorded)
        generator = None
        for _, batch in rows.groupby("batch", sort=True):
            if not wanted.intersection(batch["path"]):
                continue
            generator = generator or ImageGenerator.from_config(cfg, device)
            # as in the run: the whole batch first, then its broken images again with the VAE in fp32
            images = list(generator.render(list(batch["caption"]), [int(s) for s in batch["seed"]]))
            retried = [k for k, flag in enumerate(batch["retried_with_upcast"]) if flag]
            if retried:
                again = generator.render([batch["caption"].iloc[k] for k in retried],
                                         [int(batch["seed"].iloc[k]) for k in retried], vae_upcast=True)
                for k, image in zip(retried, again):
                    images[k] = image
            for path, image in zip(batch["path"], images):
                if path in wanted:
                    written.append(write_bytes(targets[path], encode(image, cfg.image_format, cfg.jpeg_quality)))
                    bar.update(1)
    bar.close()
    return written
