"""The paper's LLM caption judge: a Yes/No question to a local HF chat LM; only "Yes" passes."""

from __future__ import annotations

import re
from typing import Sequence

# Appendix Table 1 of the paper, verbatim (../shared/reference/paper.md §1.2).
JUDGE_PROMPT = (
    "Assume you are an expert in the field of AI image generation. Your goal is to select high-descriptive "
    "prompts that will enable the successful generation of images. I will provide you with a specific "
    "descriptive prompt, and your task is to evaluate it thoroughly. Consider the prompt's level of detail, "
    "its logical coherence, and the clarity with which it describes the desired image. It is essential to "
    "assess whether the prompt contains sufficient information to guide the diffusion model effectively, "
    "ensuring that it can produce an image that meets expectations. You should only respond with Yes or No."
)
_VERDICT = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def parse_verdict(answer: str) -> str:
    """``"yes"``, ``"no"`` or ``"unparsed"``: the first standalone yes/no word, any case or punctuation,
    after any preamble ("Answer: **Yes.**" -> yes, "I would say no" -> no, "Yesterday" -> unparsed)."""
    match = _VERDICT.search(answer or "")
    return match.group(1).lower() if match else "unparsed"


def judge_keeps(verdicts, record_only: bool = False):
    """Boolean mask of captions the judge lets through: only "yes", or all of them in record-only mode."""
    import numpy as np

    return np.array([record_only or v == "yes" for v in verdicts], dtype=bool)


def judge_message(caption: str) -> str:
    """The user turn: the paper's instruction, then the caption as the prompt to evaluate."""
    return f"{JUDGE_PROMPT}\n\nPrompt: {caption}"


class CaptionJudge:
    """Batched greedy Yes/No answers from a local causal LM, through its chat template when it has one."""

    def __init__(self, ref: str, device: str = "cpu", dtype: str = "auto", max_new_tokens: int = 5):
        from synthvlm_repro.curation.lm import load_causal_lm

        self.model, self.tokenizer = load_causal_lm(ref, device, dtype, padding_side="left")
        self.max_new_tokens = max_new_tokens

    def prompt(self, caption: str) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": judge_message(caption)}],
                                                      tokenize=False, add_generation_prompt=True)
        return f"{judge_message(caption)}\nAnswer:"

    def __call__(self, captions: Sequence[str]) -> list[dict]:
        import torch

        from synthvlm_repro.curation.lm import model_device

        prompts = [self.prompt(c) for c in captions]
        # Chat templates already start with the BOS token.
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=not self.tokenizer.chat_template).to(model_device(self.model))
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        answers = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        return [{"judge_answer": a.strip(), "judge_verdict": parse_verdict(a)} for a in answers]
