"""LLaVA-format data: the JSON + image folder reader, the collator, and the fully-masked-labels check.

A LLaVA JSON is ``[{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}, ...]}]`` with
``image`` relative to the image folder (LLaVA-558K, LLaVA-665K, stage 03's ``llava_pretrain.json``).
Rows without ``image`` are text-only (stage 2). Samples are tokenised lazily (LLaVA's ``lazy_preprocess``).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import torch
from PIL import Image

from synthvlm_repro.atomic import read_json
from synthvlm_repro.training.templates import IGNORE_INDEX, Tokenized, tokenize

log = logging.getLogger(__name__)


class DataError(ValueError):
    """A problem with a training data file, described in one line."""


def read_llava_json(path: str | Path, max_samples: int | None = None) -> list[dict]:
    """Rows of a LLaVA JSON, validated (a bad row is a one-line error naming the file and row)."""
    path = Path(path)
    rows = read_json(path, DataError, missing="training data not found", missing_error=FileNotFoundError)
    if not isinstance(rows, list):
        raise DataError(f"{path}: expected a list of samples")
    rows = rows[:max_samples] if max_samples else rows
    for i, row in enumerate(rows):
        conv = row.get("conversations") if isinstance(row, dict) else None
        if not conv or not all(isinstance(t, dict) and "from" in t and "value" in t for t in conv):
            raise DataError(f"{path}: row {i} (id {row.get('id') if isinstance(row, dict) else '?'}): "
                            "needs 'conversations' as a list of {from, value}")
    return rows


class LlavaDataset(torch.utils.data.Dataset):
    """One LLaVA sample -> ``{input_ids, labels, pixel_values?}`` for ``LlavaForConditionalGeneration``."""

    def __init__(self, json_path: str | Path, image_folder: str | Path | None, processor, template: str,
                 image_seq_length: int, max_length: int, max_samples: int | None = None, pad_to_square: bool = True):
        self.json_path = Path(json_path)
        self.rows = read_llava_json(json_path, max_samples)
        self.image_folder = Path(image_folder) if image_folder else None
        self.processor, self.template = processor, template
        self.image_seq_length, self.max_length = image_seq_length, max_length
        self.pad_to_square = pad_to_square

    def __len__(self) -> int:
        return len(self.rows)

    def tokenized(self, i: int) -> Tokenized:
        row = self.rows[i]
        try:
            return tokenize(row["conversations"], self.processor.tokenizer, self.template, self.image_seq_length,
                            "image" in row, self.max_length)
        except ValueError as e:
            raise DataError(f"{self.json_path}: row {i} (id {row.get('id')}): {e}") from None

    def image_path(self, i: int) -> Path:
        return (self.image_folder or self.json_path.parent) / self.rows[i]["image"]

    def __getitem__(self, i: int) -> dict:
        tok = self.tokenized(i)
        item = {"input_ids": torch.tensor(tok.input_ids), "labels": torch.tensor(tok.labels)}
        if tok.has_image:
            path = self.image_path(i)
            try:
                image = Image.open(path).convert("RGB")
            except (OSError, ValueError) as e:
                raise DataError(f"{self.json_path}: row {i} (id {self.rows[i].get('id')}): image {path}: {e}") from None
            item["pixel_values"] = self.processor.image_processor(image, do_pad=self.pad_to_square,
                                                                  return_tensors="pt")["pixel_values"][0]
        return item

    def lengths(self) -> list[int]:
        """Rough token lengths (words + image tokens) for length-grouped sampling, without tokenising."""
        return [sum(len(t["value"].split()) for t in r["conversations"]) + ("image" in r) * self.image_seq_length
                for r in self.rows]


class LlavaCollator:
    """Right-pads ids/labels of a batch; stacks the images of the rows that have one (text-only rows add none)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict]) -> dict:
        ids = torch.nn.utils.rnn.pad_sequence([x["input_ids"] for x in items], batch_first=True,
                                              padding_value=self.pad_token_id)
        labels = torch.nn.utils.rnn.pad_sequence([x["labels"] for x in items], batch_first=True,
                                                 padding_value=IGNORE_INDEX)
        mask = torch.zeros_like(ids, dtype=torch.long)
        for row, x in enumerate(items):
            mask[row, : len(x["input_ids"])] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        images = [x["pixel_values"] for x in items if "pixel_values" in x]
        if images:
            batch["pixel_values"] = torch.stack(images)
        return batch


def check_labels(dataset: LlavaDataset, max_fraction: float, rows: int = 0, seed: int = 0) -> dict:
    """Tokenise ``rows`` samples (0 = all; else a seeded random subset); count fully masked and truncated ones.

    A fully masked sample trains nothing (LLaVA's "tokenization mismatch", loss 0): warn on any, and
    raise :class:`DataError` when their fraction exceeds ``max_fraction``. A sample longer than the
    dataset's ``max_length`` (at most the model's context) is cut to it: counted and logged, never an error.
    """
    from tqdm.auto import tqdm

    idx = list(range(len(dataset)))
    if rows and rows < len(idx):
        idx = sorted(random.Random(seed).sample(idx, rows))
    masked, truncated = [], []
    for i in tqdm(idx, desc=f"label check {dataset.json_path.name}", unit="row", leave=False):
        tok = dataset.tokenized(i)
        if tok.n_trained == 0:
            masked.append(i)
        if tok.truncated:
            truncated.append(i)
    report = {"checked": len(idx), "fully_masked": len(masked), "examples": [dataset.rows[i].get("id") for i in masked[:5]],
              "truncated": len(truncated), "max_length": dataset.max_length}
    if truncated:
        log.warning("%s: %d of %d samples are longer than %d tokens and are truncated (e.g. ids %s)",
                    dataset.json_path, len(truncated), len(idx), dataset.max_length,
                    [dataset.rows[i].get("id") for i in truncated[:5]])
    if masked:
        log.warning("%s: %d of %d samples have no trained token (e.g. ids %s)", dataset.json_path,
                    len(masked), len(idx), report["examples"])
    if idx and len(masked) / len(idx) > max_fraction:
        raise DataError(f"{dataset.json_path}: {len(masked)} of {len(idx)} samples have every label masked "
                        f"(> {max_fraction:.1%}); check the template and the tokenizer")
    return report
