"""Automatic preference judge: a llava-hf model picks the better image for a caption.

LLaVA-1.5 sees one image per prompt, so the two images are pasted side by side on one square canvas
(square, so LLaVA's center crop cuts nothing) and the model is asked "A (left) or B (right)?". The
answer is read from the model's log-likelihood of each answer string rather than from sampled text:
deterministic, no parsing, and a probability to report. Each pair is asked in both orders (synthetic
left, then right) to cancel position bias; the synthetic image wins only when both orders pick it,
loses when both pick the original, and anything else is a tie.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from synthvlm_repro.figures.preference import append_jsonl, read_jsonl

PROMPT = ("Two images are shown side by side: A on the left and B on the right. Which image matches this "
          "caption better and looks better? Caption: \"{caption}\"\nAnswer with the option's letter, A or B.")
ANSWERS = (" A", " B")


def side_by_side(left: Image.Image, right: Image.Image, size: int = 672, gap: int = 8) -> Image.Image:
    """Both images fitted into the two halves of a ``size``-px grey square canvas."""
    canvas = Image.new("RGB", (size, size), (128, 128, 128))
    half = (size - gap) // 2
    for img, x0 in ((left, 0), (right, half + gap)):
        img = img.convert("RGB")
        scale = half / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
        canvas.paste(img, (x0 + (half - img.width) // 2, (size - img.height) // 2))
    return canvas


class LlavaJudge:
    """Scores "A vs B" prompts with a llava-hf ``LlavaForConditionalGeneration``."""

    def __init__(self, model_ref: str, device: str = "cpu", dtype: str = "fp16"):
        from synthvlm_repro.runtime.dtypes import torch_dtype
        from synthvlm_repro.runtime.llava import load_llava

        self.name = model_ref
        self.device = device
        self.model, self.processor = load_llava(model_ref, torch_dtype(dtype, device, half_needs_cuda=True), device,
                                                padding_side="right")

    def prompt(self, caption: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"},
                                                 {"type": "text", "text": PROMPT.format(caption=caption)}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True)

    def answer_logprobs(self, images: list[Image.Image], prompts: list[str]) -> np.ndarray:
        """``[len(images), len(ANSWERS)]`` summed log-probabilities of each answer after each prompt,
        all in one padded batch."""
        import torch

        texts = [p + a for p in prompts for a in ANSWERS]
        batch = self.processor(images=[im for im in images for _ in ANSWERS], text=texts, padding=True,
                               return_tensors="pt").to(self.device)
        prompt_ids = [self.processor(images=im, text=p, return_tensors="pt")["input_ids"][0].tolist()
                      for im, p in zip(images, prompts)]
        with torch.no_grad():
            logits = self.model(**batch).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        scores = np.zeros((len(images), len(ANSWERS)))
        for row in range(len(texts)):
            i, j = divmod(row, len(ANSWERS))
            ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            start = next((k for k, (a, b) in enumerate(zip(ids, prompt_ids[i])) if a != b), len(prompt_ids[i]))
            scores[i, j] = sum(logprobs[row, t - 1, ids[t]].item() for t in range(start, len(ids)))
        return scores

    def judge(self, pair_id: str, caption: str, synthetic: str, original: str) -> dict:
        """One judgment record (both orders asked in one batch)."""
        syn, orig = Image.open(synthetic), Image.open(original)
        prompt = self.prompt(caption)
        scores = self.answer_logprobs([side_by_side(syn, orig), side_by_side(orig, syn)], [prompt, prompt])
        p_left = np.exp(scores[:, 0] - np.logaddexp(scores[:, 0], scores[:, 1]))  # P(A) normalised over {A, B}
        return judgment_record(pair_id, self.name, p_syn_left=float(p_left[0]), p_syn_right=float(1 - p_left[1]))


def judgment_record(pair_id: str, judge: str, p_syn_left: float, p_syn_right: float) -> dict:
    """Combine both orders: ``p_syn_left`` = P(synthetic chosen | shown left), ``p_syn_right`` likewise."""
    picks = (p_syn_left > 0.5, p_syn_right > 0.5)
    winner = "synthetic" if all(picks) else "original" if not any(picks) else "tie"
    return {"pair_id": pair_id, "judge": judge, "winner": winner, "p_synthetic_left": round(p_syn_left, 6),
            "p_synthetic_right": round(p_syn_right, 6), "picked_left": [p_syn_left > 0.5, p_syn_right <= 0.5]}


def run_judge(judge: LlavaJudge, pairs: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Judge every pair not yet in ``out`` (JSONL, appended per pair: resumable); returns all records."""
    done = {r["pair_id"] for r in read_jsonl(out) if r.get("judge") == judge.name}
    todo = pairs[~pairs["pair_id"].isin(done)]
    for row in tqdm(todo.itertuples(index=False), total=len(todo), desc=f"judge {judge.name}"):
        append_jsonl(out, judge.judge(row.pair_id, row.caption, row.synthetic, row.original))
    return pd.DataFrame.from_records([r for r in read_jsonl(out) if r.get("judge") == judge.name])


def position_bias(records: pd.DataFrame) -> float:
    """Share of answers that picked the left image (0.5 = no position bias)."""
    picks = [p for pair in records["picked_left"] for p in pair]
    return float(np.mean(picks)) if picks else float("nan")
