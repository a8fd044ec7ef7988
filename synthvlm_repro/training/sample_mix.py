"""A tiny LLaVA-665K-shaped instruction mix from the kit's sample data (smoke profile's stage 2).

Multi-turn image conversations about the 20 drawn sample images plus text-only rows, in the
665K JSON format (``image`` relative to the image folder; text-only rows have no ``image``).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from synthvlm_repro.atomic import write_json
from synthvlm_repro.sample_data import load_sample_captions, sample_data_dir

QUESTIONS = ("Describe the image briefly.", "What is shown in this picture?", "Give a short caption for this image.")
TEXT_ONLY = (
    ("What colour do you get by mixing blue and yellow?", "Green."),
    ("How many sides does a triangle have?", "Three."),
    ("Name a shape with four equal sides.", "A square."),
    ("Is the sun a star? Answer yes or no.", "Yes."),
)


def build_sample_mix(out_dir: str | Path, seed: int = 0) -> tuple[Path, Path]:
    """Write ``out_dir/sample_mix.json`` and copy the images to ``out_dir/images``; returns (json, image folder)."""
    out_dir = Path(out_dir)
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for rec in (r for r in load_sample_captions() if "image" in r):
        rng = random.Random(f"{seed}:{rec['id']}")  # per-row seed: same mix on every run
        name = Path(rec["image"]).name
        if not (image_dir / name).exists():
            shutil.copyfile(sample_data_dir() / rec["image"], image_dir / name)
        first = rng.choice(QUESTIONS)
        words = rec["caption"].rstrip(".").split()
        rows.append({"id": f"mix-{rec['id']}", "image": name, "conversations": [
            {"from": "human", "value": f"<image>\n{first}" if rng.random() < 0.5 else f"{first}\n<image>"},
            {"from": "gpt", "value": rec["caption"]},
            {"from": "human", "value": "Answer with one word: what is the first word of your description?"},
            {"from": "gpt", "value": words[0]},
        ]})
    for k, (q, a) in enumerate(TEXT_ONLY):
        rows.append({"id": f"mix-text-{k}", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]})
    random.Random(seed).shuffle(rows)
    json_path = write_json(out_dir / "sample_mix.json", rows)
    return json_path, image_dir


def build_sample_pretrain(json_path: str | Path, image_folder: str | Path) -> Path:
    """A stage-1 input from the sample images in LLaVA's pretrain format (what stage 03 writes), for
    trying stage 04 without running 01–03."""
    image_folder = Path(image_folder)
    image_folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for rec in (r for r in load_sample_captions() if "image" in r):
        name = Path(rec["image"]).name
        shutil.copyfile(sample_data_dir() / rec["image"], image_folder / name)
        rows.append({"id": rec["id"], "image": name, "conversations": [
            {"from": "human", "value": "Render a clear and concise summary of the photo.\n<image>"},
            {"from": "gpt", "value": rec["caption"]}]})
    return write_json(json_path, rows)
