"""The paper's LLM caption judge: a Yes/No question to a local HF chat LM; only "Yes" passes.

Two HF backends give the same verdicts:

- :class:`CaptionJudge` (``judge_backend: generate``): batched greedy ``generate`` of
  ``judge_max_new_tokens`` tokens, parsed with :func:`parse_verdict`. The reference.
- :class:`PrefixJudge` (``judge_backend: prefix``, the default): the ~120-token instruction that every
  prompt shares is run through the model once and its KV cache reused for every batch; each batch of
  captions is then one forward over the caption tokens only, reading the greedy first answer token, and
  one cached step per further token only until the verdict is settled ("Yes" + "." -- not "Yes" +
  "terday"). An answer that does not start with Yes/No (a preamble) is decoded to its end from the cache,
  as ``generate`` would; only a greedy choice too close to call (float noise could flip it) is handed to
  HF ``generate`` itself.

Why hand-written: HF ``generate`` re-encodes the shared instruction for every caption and decodes all
``max_new_tokens`` steps; neither transformers nor accelerate offers a shared-prefix batch scorer.
:class:`VllmJudge` (``judge_backend: vllm``) is the off-the-shelf alternative (automatic prefix caching).
"""

from __future__ import annotations

import inspect
import logging
import re
from typing import Sequence

log = logging.getLogger(__name__)

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
# A yes/no word at the very start, followed by a complete non-word character: later tokens cannot change
# what parse_verdict finds (U+FFFD = a multi-byte character cut in half, which a later token may complete).
_LEADING_VERDICT = re.compile(r"\s*(yes|no)(?=[^\w\ufffd])", re.IGNORECASE)
_PROBES = ("alpha", "Zulu 9", "7 (x)")  # captions with different first characters, to find the shared prefix


def _may_start_verdict(text: str) -> bool:
    """Whether more tokens could still make ``text`` start with a standalone yes/no."""
    head = text.lstrip().lower()
    return "yes".startswith(head) or "no".startswith(head)


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


def fit_caption(tokenizer, caption: str, budget: int) -> str:
    """``caption`` itself when it has at most ``budget`` tokens, else its first ``budget`` tokens as text."""
    if len(caption.encode("utf-8")) <= budget:  # every token covers at least one byte
        return caption
    ids = tokenizer(caption, add_special_tokens=False)["input_ids"]
    return caption if len(ids) <= budget else tokenizer.decode(ids[:budget], skip_special_tokens=True)


class _JudgeLM:
    """Model, tokenizer, prompt building and the caption length limit shared by the HF backends."""

    def __init__(self, ref: str | None = None, device: str = "cpu", dtype: str = "auto", max_new_tokens: int = 5,
                 model=None, tokenizer=None):
        if model is None:
            from synthvlm_repro.curation.judge_devices import load_judge_lm

            model, tokenizer = load_judge_lm(ref, device, dtype)
        self.model, self.tokenizer = model, tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.max_new_tokens = max_new_tokens
        self.truncated = 0  # captions cut to fit the model's context so far
        context = getattr(model.config, "max_position_embeddings", None) or 4096
        overhead = len(self.encode(self.prompt("")))
        self.caption_token_budget = max(1, context - overhead - max_new_tokens - 8)  # 8: re-tokenisation slack

    def prompt(self, caption: str) -> str:
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": judge_message(caption)}],
                                                      tokenize=False, add_generation_prompt=True)
        return f"{judge_message(caption)}\nAnswer:"

    def encode(self, prompt: str) -> list[int]:
        # Chat templates already start with the BOS token.
        return self.tokenizer(prompt, add_special_tokens=not self.tokenizer.chat_template)["input_ids"]

    def fit(self, caption: str) -> str:
        """``caption`` cut to the tokens that fit the model's context with the instruction (a 100 KB caption
        would otherwise exhaust memory); counted in :attr:`truncated`."""
        fitted = fit_caption(self.tokenizer, caption, self.caption_token_budget)
        self.truncated += fitted is not caption
        return fitted

    def generate_answers(self, captions: Sequence[str]) -> list[str]:
        """Greedy answers of ``max_new_tokens`` tokens, one padded batch (today's reference path)."""
        import torch

        from synthvlm_repro.curation.lm import model_device

        prompts = [self.prompt(c) for c in captions]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=not self.tokenizer.chat_template).to(model_device(self.model))
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        return self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _cache_of(output):
    """The KV cache of a forward's output (``cache`` in transformers >= 5.2x, ``past_key_values`` before)."""
    return output["cache"] if "cache" in output else output.past_key_values


def _row(answer: str, truncated: bool = False) -> dict:
    return {"judge_answer": answer.strip(), "judge_verdict": parse_verdict(answer), "judge_truncated": truncated}


class CaptionJudge(_JudgeLM):
    """Batched greedy Yes/No answers from a local causal LM through ``generate`` (the reference backend)."""

    def __call__(self, captions: Sequence[str]) -> list[dict]:
        fitted = [self.fit(c) for c in captions]
        return [_row(a, f is not c) for a, f, c in zip(self.generate_answers(fitted), fitted, captions)]


class PrefixJudge(_JudgeLM):
    """Same verdicts as :class:`CaptionJudge`, from one forward per batch over a cached shared prefix.

    ``judge_answer`` holds the tokens read (e.g. ``"Yes."``), a prefix of what ``generate`` writes;
    :attr:`counts` says how many captions were settled by their first tokens (``fast``), decoded to the
    end from the cache (``decoded``: the answer did not start with Yes/No) or handed to HF ``generate``
    (``generate``: a greedy choice within ``tie_margin`` of the runner-up, where float noise could flip it).
    """

    def __init__(self, *args, batch_size: int = 8, tie_margin: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.prefix = self._shared_prefix()
        self._prefix_cache = None
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        self.eos = set(eos if isinstance(eos, (list, tuple)) else [] if eos is None else [eos])
        # Greedy choices closer than this may flip between this path and generate's (float noise): fall back.
        import torch

        dtype = next(self.model.parameters()).dtype
        self.tie_margin = tie_margin if tie_margin is not None else (1e-3 if dtype == torch.float32 else 0.0625)
        self.counts = {"fast": 0, "decoded": 0, "generate": 0}

    def _shared_prefix(self) -> list[int]:
        probes = [self.encode(self.prompt(c)) for c in _PROBES]
        n = 0
        while all(len(p) > n for p in probes) and len({p[n] for p in probes}) == 1:
            n += 1
        return probes[0][:n]

    def _cache_for(self, batch: int):
        """The prefix's KV cache repeated for ``batch`` rows (computed once, copied per batch)."""
        import copy

        import torch

        from synthvlm_repro.curation.lm import model_device

        if self._prefix_cache is None:
            ids = torch.tensor([self.prefix], device=model_device(self.model))
            with torch.no_grad():
                self._prefix_cache = _cache_of(self.model(input_ids=ids, use_cache=True))
        cache = copy.deepcopy(self._prefix_cache)
        cache.batch_repeat_interleave(batch)
        return cache

    def _greedy(self, logits):
        """Greedy token per row and whether the runner-up is far enough behind to trust it."""
        top = logits.float().topk(2, dim=-1)
        return top.indices[:, 0].tolist(), ((top.values[:, 0] - top.values[:, 1]) >= self.tie_margin).tolist()

    def _read_answers(self, suffixes: list[list[int]]) -> list[str | None]:
        """Answer text read for each suffix, or ``None`` where ``generate`` must decide (a near-tie).

        Greedy tokens are read (one cached step each) only until the verdict is settled: a yes/no word
        followed by a non-word character, or the end of the answer (EOS, ``max_new_tokens``). An answer
        that cannot start with yes/no (a preamble such as "Answer:") is decoded to its end from the cache,
        token by token as ``generate`` does, and parsed the same way.
        """
        import torch

        from synthvlm_repro.curation.lm import model_device

        device = model_device(self.model)
        n, width, p = len(suffixes), max(len(s) for s in suffixes), len(self.prefix)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in suffixes], device=device)
        mask = torch.tensor([[1] * p + [0] * (width - len(s)) + [1] * len(s) for s in suffixes], device=device)
        # Positions as generate gives them under left padding: real tokens count on from the prefix.
        positions = torch.tensor([[p] * (width - len(s)) + list(range(p, p + len(s))) for s in suffixes],
                                 device=device)
        next_position = torch.tensor([[p + len(s)] for s in suffixes], device=device)
        # transformers >= 5.2x names the argument `cache` (`past_key_values` is deprecated there).
        cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        answers: list[str | None] = [None] * n
        tokens: list[list[int]] = [[] for _ in range(n)]
        pending, settled, full = set(range(n)), set(), set()
        cache = self._cache_for(n)
        with torch.no_grad():
            for step in range(self.max_new_tokens):
                out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                 **{cache_arg: cache})
                chosen, sure = self._greedy(out.logits[:, -1])
                for j in sorted(pending):
                    if not sure[j]:
                        pending.discard(j)  # too close to call: generate decides
                        continue
                    tokens[j].append(chosen[j])
                    text = self.tokenizer.decode(tokens[j], skip_special_tokens=True)
                    if chosen[j] in self.eos or step == self.max_new_tokens - 1:
                        answers[j] = text
                        pending.discard(j)
                    elif j not in full and _LEADING_VERDICT.match(text):
                        answers[j] = text
                        settled.add(j)
                        pending.discard(j)
                    elif not _may_start_verdict(text):
                        full.add(j)  # a preamble: decode the whole answer from the cache, as generate would
                if not pending:
                    break
                cache, ids = _cache_of(out), torch.tensor(chosen, device=device)[:, None]
                mask = torch.cat([mask, torch.ones(n, 1, dtype=mask.dtype, device=device)], 1)
                positions, next_position = next_position, next_position + 1
        self.counts["fast"] += len(settled)
        self.counts["decoded"] += sum(answers[j] is not None for j in full)
        return answers

    def __call__(self, captions: Sequence[str]) -> list[dict]:
        fitted = [self.fit(c) for c in captions]
        p = len(self.prefix)
        encoded = [self.encode(self.prompt(c)) for c in fitted]
        answers: list[str | None] = [None] * len(fitted)
        fast = [i for i, ids in enumerate(encoded) if len(ids) > p and ids[:p] == self.prefix]
        fast.sort(key=lambda i: len(encoded[i]))  # similar lengths share a batch: little padding
        for lo in range(0, len(fast), self.batch_size):
            idx = fast[lo:lo + self.batch_size]
            for i, a in zip(idx, self._read_answers([encoded[i][p:] for i in idx])):
                answers[i] = a
        rest = [i for i, a in enumerate(answers) if a is None]
        for lo in range(0, len(rest), self.batch_size):
            idx = rest[lo:lo + self.batch_size]
            for i, a in zip(idx, self.generate_answers([fitted[i] for i in idx])):
                answers[i] = a
        self.counts["generate"] += len(rest)
        return [_row(a, f is not c) for a, f, c in zip(answers, fitted, captions)]


class VllmJudge:
    """Greedy answers through vLLM with automatic prefix caching (``pip install synthvlm-repro[vllm]``).

    vLLM schedules the batches itself and caches the shared instruction's KV blocks; answers are parsed
    with :func:`parse_verdict` as for the HF backends. Tensor parallelism = the GPUs visible to this process.
    """

    def __init__(self, ref: str, dtype: str = "auto", max_new_tokens: int = 5):
        try:
            from vllm import LLM, SamplingParams
        except ImportError as e:
            raise ImportError(f"curation.judge_backend=vllm needs `pip install vllm` ({e})") from None
        import torch
        from transformers import AutoTokenizer

        from synthvlm_repro.models import resolve_model

        path = str(resolve_model(ref))
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        from synthvlm_repro.runtime.dtypes import library_dtype, resolve_dtype

        self.llm = LLM(model=path, dtype=library_dtype(resolve_dtype(dtype, "cuda")), enable_prefix_caching=True,
                       tensor_parallel_size=max(1, torch.cuda.device_count()))
        self.params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens)
        context = self.llm.llm_engine.model_config.max_model_len
        overhead = len(self._ids(""))
        self.caption_token_budget = max(1, context - overhead - max_new_tokens - 8)
        self.truncated = 0

    def _ids(self, caption: str) -> list[int]:
        text = judge_message(caption)
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
        return self.tokenizer(f"{text}\nAnswer:")["input_ids"]

    def __call__(self, captions: Sequence[str]) -> list[dict]:
        fitted = [fit_caption(self.tokenizer, c, self.caption_token_budget) for c in captions]
        cut = [f is not c for f, c in zip(fitted, captions)]
        self.truncated += sum(cut)
        outputs = self.llm.generate([{"prompt_token_ids": self._ids(f)} for f in fitted], self.params, use_tqdm=False)
        return [_row(o.outputs[0].text, t) for o, t in zip(outputs, cut)]


def make_judge(cfg, device: str):
    """The judge backend ``cfg.judge_backend`` names, loaded on ``device`` (or this rank's GPU group)."""
    backend = getattr(cfg, "judge_backend", "prefix")
    if backend == "vllm":
        return VllmJudge(cfg.judge_model, cfg.dtype, cfg.judge_max_new_tokens)
    if backend == "generate":
        return CaptionJudge(cfg.judge_model, device, cfg.dtype, cfg.judge_max_new_tokens)
    return PrefixJudge(cfg.judge_model, device, cfg.dtype, cfg.judge_max_new_tokens, batch_size=cfg.judge_batch_size)
