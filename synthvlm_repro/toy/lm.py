"""The toy language model: a Llama (``LlamaForCausalLM`` + a byte-level BPE tokenizer in Llama's shape)
pretrained on the world's text, as Vicuna is for LLaVA.

Its corpus is captions of the grammar and ``vicuna_v1`` chats in which the scene is *described in
words* and a question about it is answered in the benchmarks' answer formats; LLaVA's stage 1 then has
to make the image stand in for that description. Trained with the plain causal-LM loss (HF's own).
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tqdm.auto import trange

from synthvlm_repro.conversation import ROLES, vicuna_v1_prompt
from synthvlm_repro.evaluation.prompting import OPTION_LETTER, SHORT_ANSWER
from synthvlm_repro.toy.questions import choice_question, presence_question, short_question
from synthvlm_repro.toy.world import ATTRIBUTES, caption, rng_for, sample_scene, scene_ids

SPECIAL = ["<unk>", "<s>", "</s>"]
LETTERS = "ABCD"


def document(item_id: str, copy_docs: bool = False) -> str:
    """One training text: a caption, a chat about a scene described by its caption, or (``copy_docs``) a
    caption followed by another wording of it (so the LM learns to describe what its context shows)."""
    scene, r = sample_scene(item_id), rng_for(item_id, "lm")
    text = caption(scene, item_id)
    kind = r.random()
    if copy_docs and kind < 0.3:
        return f"{text}\n{caption(scene, item_id + '/again')}"
    if kind < 0.3:
        return text
    if kind < 0.6:
        q, a = short_question(scene, r.choice(tuple(ATTRIBUTES)))
        q, a = f"{q}\n{SHORT_ANSWER}", a.capitalize()
    elif kind < 0.8:
        q, a = presence_question(scene, r, r.random() < 0.5, r.choice(("random", "popular", "adversarial")))
        q, a = f"{q}\n{SHORT_ANSWER}", a.capitalize()
    else:
        q, options, right = choice_question(scene, r.choice(tuple(ATTRIBUTES)), r)
        q = q + "".join(f"\n{LETTERS[i]}. {o}" for i, o in enumerate(options)) + f"\n{OPTION_LETTER}"
        a = LETTERS[right]
    return vicuna_v1_prompt([(ROLES[0], f"{text}\n{q}"), (ROLES[1], a)])


def train_tokenizer(vocab_size: int):
    """Byte-level BPE on the world's text, ``<s>`` prepended (Llama's shape), saved as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([document(i) for i in scene_ids("lmtok", 3000)], trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512, padding_side="right")


def build_llama(out: Path, spec: dict, steps: int | None = None, progress: bool = True) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tok = train_tokenizer(spec["vocab_size"])
    config = LlamaConfig(vocab_size=len(tok), hidden_size=spec["hidden_size"],
                         intermediate_size=spec["intermediate_size"], num_hidden_layers=spec["num_hidden_layers"],
                         num_attention_heads=spec["num_attention_heads"],
                         num_key_value_heads=spec["num_key_value_heads"], max_position_embeddings=512,
                         tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = LlamaForCausalLM(config)
    steps = steps or spec["steps"]
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps, pct_start=0.1)
    model.train()
    for step in trange(steps, desc="toy Llama", disable=not progress):
        texts = [document(i, spec.get("copy_docs", False)) for i in scene_ids(f"lm{step}", spec["batch"])]
        batch = tok(texts, return_tensors="pt", padding=True) if tok.pad_token else _pad(tok, texts)
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    model.generation_config.pad_token_id = tok.unk_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)


def _pad(tok, texts: list[str]) -> dict:
    """Right-pad with ``<unk>`` and mask the padding out of the loss (the tokenizer has no pad token, as Vicuna)."""
    ids = [tok(t).input_ids + [tok.eos_token_id] for t in texts]
    width = max(map(len, ids))
    input_ids = torch.full((len(ids), width), tok.unk_token_id)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    labels = input_ids.masked_fill(mask == 0, -100)
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def sample_documents(n: int, seed: int = 0) -> list[str]:
    """A few training texts (for notebooks and tests)."""
    r = random.Random(seed)
    return [document(f"lmshow-{r.randrange(10**6)}") for _ in range(n)]
