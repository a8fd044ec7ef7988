"""Random-weight Llama judges for the judge tests and ``bench/judge_bench.py`` (no download).

Random weights almost never answer "Yes"/"No", so a judge built here gets two verdict tokens
(``"Yes."``, ``"No."``) whose ``lm_head`` rows point along a direction of its final hidden states: for
captions whose hidden state lies far along it the greedy first answer token is a verdict (the fast path
of :class:`~synthvlm_repro.curation.judge.PrefixJudge`), for the others it is some other token and the
answer goes to ``generate`` (the fallback). ``quantile`` sets the share of captions that answer Yes./No.
"""

from __future__ import annotations

from typing import Sequence

VERDICT_TOKENS = ("Yes.", "No.")


def random_llama_judge(hidden: int, layers: int, heads: int, kv_heads: int, intermediate: int, seed: int = 0):
    """``(model, tokenizer)``: a seeded random LlamaForCausalLM with the tiny judge's chat tokenizer (plus
    :data:`VERDICT_TOKENS`); ``hidden=768, layers=8`` is a ~50M-parameter model."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from synthvlm_repro.tiny_models import tiny_model_path

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path("judge-lm"))
    tokenizer.add_tokens(list(VERDICT_TOKENS))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=2048, bos_token_id=1, eos_token_id=[2, 5], pad_token_id=6,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval(), tokenizer


def tiny_judge_with_verdict_tokens():
    """``(model, tokenizer)``: ``tiny:judge-lm`` with :data:`VERDICT_TOKENS` added (rows resized, seeded)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from synthvlm_repro.tiny_models import tiny_model_path

    path = tiny_model_path("judge-lm")
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.add_tokens(list(VERDICT_TOKENS))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return model, tokenizer


def bias_towards_verdicts(model, tokenizer, prompts: Sequence[str], quantile: float = 0.5, seed: int = 0) -> None:
    """Point the verdict tokens' ``lm_head`` rows along ``+u`` / ``-u`` (``u`` random, orthogonal to the mean
    final hidden state, so the sign varies by caption), scaled so that a ``quantile`` share of ``prompts``
    answer Yes./No. first. In place."""
    import torch

    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=not tokenizer.chat_template)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = out.hidden_states[-1][:, -1].float()  # left padding: the last position is the answer's
    best_other = out.logits[:, -1].float().max(-1).values
    mean = torch.nn.functional.normalize(hidden.mean(0), dim=0)
    r = torch.randn(hidden.shape[1], generator=torch.Generator().manual_seed(seed))
    u = torch.nn.functional.normalize(r - (r @ mean) * mean, dim=0)
    needed = best_other.clamp(min=1e-3) / (hidden @ u).abs().clamp(min=1e-6)  # scale at which a caption flips
    scale = torch.quantile(needed, quantile) * 1.01
    yes, no = tokenizer.convert_tokens_to_ids(list(VERDICT_TOKENS))
    with torch.no_grad():
        model.lm_head.weight[yes] = (scale * u).to(model.lm_head.weight.dtype)
        model.lm_head.weight[no] = (-scale * u).to(model.lm_head.weight.dtype)
