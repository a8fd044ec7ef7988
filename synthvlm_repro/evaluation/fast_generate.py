"""Faster greedy answering that keeps LLaVA's batch-size-1 answers.

Batched answering with left padding changes answers in bf16 (bench/RESULTS.md, stage 05), so the kit
answers one question at a time. Two ways to go faster without padding:

- ``kv_cache: static``: a preallocated KV cache (transformers' ``cache_implementation="static"``); on CUDA
  transformers then compiles the one-token decoding step with ``torch.compile`` (``compile_decoding``).
- ``group_equal_length``: batches of up to ``batch_size`` questions whose prompts have the same number
  of tokens, so the batch needs no padding. Questions are answered out of order; answers are keyed by
  question id, so the files are the same.

Both are off by default (eager batch size 1) until a bf16 GPU run shows 0 answers differing
(``bench/evaluation_bench.py --fast``).
"""

from __future__ import annotations

from typing import Sequence

from synthvlm_repro.evaluation.benchmarks import Question
from synthvlm_repro.evaluation.prompting import question_prompt


STATIC_CACHE_LEN = 2048  # LLaVA-1.5's context: one cache size for every prompt, so the decoding step compiles once


def generate_options(kv_cache: str = "dynamic", compile_decoding: bool = True) -> dict:
    """Extra ``model.generate`` arguments for the configured KV cache."""
    if kv_cache == "dynamic":
        return {}
    return {"cache_implementation": "static", "max_cache_len": STATIC_CACHE_LEN,
            "disable_compile": not compile_decoding}


def prompt_length(tokenizer, question: Question) -> int:
    """Tokens of the question's prompt before image expansion (every image expands to the same count
    in LLaVA-1.5, so equal values mean equal model input lengths)."""
    return len(tokenizer(question_prompt(question.text)).input_ids)


def equal_length_batches(questions: Sequence[Question], tokenizer, batch_size: int) -> list[list[Question]]:
    """Questions grouped by prompt length (groups in first-seen order, questions in input order), cut into
    batches of at most ``batch_size``: no batch needs padding."""
    groups: dict[int, list[Question]] = {}
    for q in questions:
        groups.setdefault(prompt_length(tokenizer, q), []).append(q)
    return [group[i:i + batch_size] for group in groups.values() for i in range(0, len(group), batch_size)]


def answer_batches(questions: Sequence[Question], tokenizer, batch_size: int, group_equal_length: bool
                   ) -> list[list[Question]]:
    """The batches ``answer_questions`` runs: equal-length groups, or consecutive slices (left-padded)."""
    if group_equal_length:
        return equal_length_batches(questions, tokenizer, batch_size)
    return [list(questions[i:i + batch_size]) for i in range(0, len(questions), batch_size)]
