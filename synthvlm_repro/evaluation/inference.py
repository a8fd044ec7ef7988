"""Greedy answers from a llava-hf checkpoint, written incrementally, resumable, sharded.

Each shard appends ``{"question_id", "text", "prompt"}`` lines to its own JSONL file after every
batch (flushed and fsynced); a rerun skips the ids already there, and a torn last line left by a
crash is dropped. :func:`merge_shards` joins the shard files in question order (atomic write).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterable, Sequence

from tqdm.auto import tqdm

from synthvlm_repro.atomic import atomic_open
from synthvlm_repro.evaluation.benchmarks import Question
from synthvlm_repro.evaluation.prompting import IMAGE_TOKEN, expand_to_square, question_prompt
from synthvlm_repro.runtime import llava as runtime_llava
from synthvlm_repro.runtime.distributed import Shard

log = logging.getLogger(__name__)


def load_llava(model_dir: str, device: str = "cpu", dtype: str = "auto"):
    """``(model, processor)`` of a llava-hf checkpoint on ``device``, eval mode, tokenizer padding on the left."""
    return runtime_llava.load_llava(model_dir, dtype=dtype, device=device, padding_side="left")


def shard_of(items: Sequence, rank: int, world: int) -> list:
    """Every ``world``-th item starting at ``rank`` (shards interleave so they stay balanced)."""
    return Shard(rank, world).take(items)


def read_answers(path: Path) -> dict[str, dict]:
    """Answer lines of a (possibly crash-truncated) JSONL file by question id; drops a torn last line."""
    if not path.exists():
        return {}
    out, good_bytes = {}, 0
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                break
            if not raw.endswith(b"\n"):
                break
            out[str(row["question_id"])] = row
            good_bytes += len(raw)
    if good_bytes != path.stat().st_size:
        with open(path, "r+b") as fh:
            fh.truncate(good_bytes)
    return out


def fit_question(processor, model, question: Question, max_new_tokens: int) -> str:
    """The question text, cut at a token boundary so that its prompt (image tokens included) plus
    ``max_new_tokens`` fit the language model's context; a cut is logged with its token count."""
    from synthvlm_repro.training.builder import image_tokens_per_image

    text = question.text.replace(IMAGE_TOKEN, "").strip()
    context = getattr(model.config.get_text_config(), "max_position_embeddings", None)
    if context is None:
        return text
    tokenizer = processor.tokenizer
    overhead = len(tokenizer(question_prompt("")).input_ids) - 1 + image_tokens_per_image(processor)
    budget = max(context - max_new_tokens - overhead - 2, 0)  # 2: the pieces may tokenise a little differently
    ids = tokenizer(text, add_special_tokens=False).input_ids
    if len(ids) <= budget:
        return text
    log.warning("question %s: %d of its %d tokens cut to fit the model's context of %d", question.qid,
                len(ids) - budget, len(ids), context)
    return tokenizer.decode(ids[:budget], skip_special_tokens=True).strip()


def generate_batch(model, processor, questions: Sequence[Question], max_new_tokens: int,
                   aspect_ratio: str = "pad", **generate_options) -> tuple[list[str], list[str]]:
    """Greedy answers of a batch (left-padded) and the prompts used (questions cut to fit the context);
    ``generate_options`` go to ``model.generate`` (e.g. a static KV cache, evaluation/fast_generate.py)."""
    import torch

    prompts = [question_prompt(fit_question(processor, model, q, max_new_tokens)) for q in questions]
    images = [q.load_image() for q in questions]
    if aspect_ratio == "pad":
        images = [expand_to_square(im, processor.image_processor.image_mean) for im in images]
    inputs = processor(images=images, text=prompts, return_tensors="pt", padding=True)
    inputs = inputs.to(model.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    pad_id = processor.tokenizer.pad_token_id
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                             pad_token_id=pad_id, temperature=None, top_p=None, top_k=None, **generate_options)
    new_tokens = out[:, inputs["input_ids"].shape[1]:]
    texts = processor.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    return [t.strip() for t in texts], prompts


def piecewise_ids(tokenizer, prompt: str, n_image_tokens: int) -> list[int]:
    """Prompt ids as LLaVA's ``tokenizer_image_token`` makes them (and stage 04 trains on): BOS, then the
    text around ``<image>`` tokenised piece by piece, with ``n_image_tokens`` image ids in between."""
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids = [tokenizer.bos_token_id]
    for k, chunk in enumerate(prompt.split(IMAGE_TOKEN)):
        if k:
            ids += [image_id] * n_image_tokens
        ids += tokenizer(chunk, add_special_tokens=False).input_ids
    return ids


def check_tokenization(processor, question: Question) -> bool:
    """True when the processor tokenises a prompt exactly as LLaVA's piecewise rule; logs a warning if not
    (a SentencePiece tokenizer may add a prefix space per piece: answers could then differ from LLaVA's)."""
    prompt = question_prompt(question.text)
    image = expand_to_square(question.load_image(), processor.image_processor.image_mean)
    ids = processor(images=[image], text=[prompt], return_tensors="pt")["input_ids"][0].tolist()
    n = ids.count(processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    same = ids == piecewise_ids(processor.tokenizer, prompt, n)
    if not same:
        log.warning("prompt tokenisation differs from LLaVA's piecewise tokenizer_image_token for %s", question.qid)
    return same


def answer_questions(model, processor, questions: Sequence[Question], out_path: Path, max_new_tokens: int,
                     batch_size: int = 1, aspect_ratio: str = "pad", desc: str = "answers",
                     group_equal_length: bool = False, generate_options: dict | None = None) -> dict[str, dict]:
    """Answer the questions not yet in ``out_path``, appending after every batch; returns all answers.
    ``group_equal_length`` batches only prompts of equal length (no padding; evaluation/fast_generate.py)."""
    from synthvlm_repro.evaluation.fast_generate import answer_batches

    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = read_answers(out_path)
    todo = [q for q in questions if q.qid not in done]
    if todo:
        check_tokenization(processor, todo[0])
    with open(out_path, "a", encoding="utf-8") as fh, tqdm(total=len(questions), initial=len(questions) - len(todo),
                                                            desc=desc, unit="q") as bar:
        for batch in answer_batches(todo, processor.tokenizer, batch_size, group_equal_length):
            texts, prompts = generate_batch(model, processor, batch, max_new_tokens, aspect_ratio,
                                            **(generate_options or {}))
            for q, text, prompt in zip(batch, texts, prompts):
                row = {"question_id": q.qid, "text": text, "prompt": prompt}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                done[q.qid] = row
            fh.flush()
            os.fsync(fh.fileno())
            bar.update(len(batch))
    return done


def shard_path(answers_dir: Path, benchmark: str, split: str, rank: int, world: int) -> Path:
    return answers_dir / benchmark / f"{split}.shard{rank}of{world}.jsonl"


def merged_path(answers_dir: Path, benchmark: str, split: str) -> Path:
    return answers_dir / benchmark / f"{split}.jsonl"


def merge_shards(answers_dir: Path, benchmark: str, split: str, questions: Iterable[Question]) -> dict[str, str]:
    """Join every shard file of a split into ``<split>.jsonl`` in question order; all must be answered."""
    folder = answers_dir / benchmark
    rows: dict[str, dict] = {}
    for path in sorted(folder.glob(f"{split}.shard*of*.jsonl")):
        rows.update(read_answers(path))
    questions = list(questions)
    missing = [q.qid for q in questions if q.qid not in rows]
    if missing:
        raise FileNotFoundError(f"{folder}: {len(missing)} of {len(questions)} {split} questions have no answer "
                                f"(first: {missing[0]}); run the answer step for every shard")
    with atomic_open(merged_path(answers_dir, benchmark, split), "w", encoding="utf-8") as fh:
        for q in questions:
            fh.write(json.dumps(rows[q.qid], ensure_ascii=False) + "\n")
    return {q.qid: rows[q.qid]["text"] for q in questions}
