"""LLaVA's conversation templates and label masking, for transformers' Llava classes.

Semantics follow haotian-liu/LLaVA ``llava/train/train.py`` (``preprocess_plain``, ``preprocess_v1``) and
``llava/conversation.py`` (``conv_llava_plain``, ``conv_vicuna_v1``):

- ``plain`` (stage 1): the human turn is replaced by the image; the text is ``<image>`` + caption + ``"\\n"``
  and only caption + ``"\\n"`` is trained.
- ``v1`` (stage 2): Vicuna system prompt, ``"USER: ... ASSISTANT: answer</s>"`` per round; the system
  prompt, every human turn and each ``"ASSISTANT:"`` are masked; the answers and their ``</s>`` are trained.

Written by hand because no library tokenises LLaVA-format data with LLaVA's masking (TRL's VLM
collator trains on the user turns too). LLaVA derives the masks from lengths of separately tokenised
prefixes, which silently masks whole samples when the tokenizer disagrees (anchors.md F1); here the
whole text is tokenised once and each token is labelled from its character offsets, so the masks
cannot drift. As LLaVA's ``tokenizer_image_token``, text around ``<image>`` is tokenised piecewise, one
BOS leads the sequence, and each ``<image>`` becomes the processor's number of image tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthvlm_repro.conversation import IMAGE_TOKEN, ROLES as V1_ROLES, SEP, SEP2, SYSTEM_PROMPT

IGNORE_INDEX = -100
ROLES = {"human": V1_ROLES[0], "gpt": V1_ROLES[1]}


@dataclass
class Tokenized:
    input_ids: list[int]
    labels: list[int]
    has_image: bool = False  # the ids hold one complete run of image tokens
    truncated: bool = False  # the sample was longer than max_length and was cut to it

    @property
    def n_trained(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def render(conversations: list[dict], template: str, has_image: bool) -> tuple[str, list[tuple[int, int]]]:
    """The training text of one sample and the character spans whose tokens are trained."""
    if template == "plain":
        if len(conversations) < 2:
            raise ValueError("plain template needs a human turn and a gpt turn")
        text = IMAGE_TOKEN if has_image else ""
        start = len(text)
        text += conversations[1]["value"] + "\n"
        return text, [(start, len(text))]
    if template != "v1":
        raise ValueError(f"unknown template {template!r} (plain, v1)")
    text, spans = SYSTEM_PROMPT + SEP, []
    for i, turn in enumerate(conversations):
        role = ROLES.get(turn.get("from"))
        expected = "USER" if i % 2 == 0 else "ASSISTANT"
        if role != expected:
            raise ValueError(f"turn {i}: expected {'human' if expected == 'USER' else 'gpt'}, got {turn.get('from')!r}")
        value = turn["value"]
        if role == "USER":
            if IMAGE_TOKEN in value and has_image:  # LLaVA moves the image to the front of its turn
                value = IMAGE_TOKEN + "\n" + value.replace(IMAGE_TOKEN, "").strip()
            elif not has_image:
                value = value.replace(IMAGE_TOKEN, "").strip()
            text += f"{role}: {value}{SEP}"
        else:
            text += f"{role}:"
            start = len(text)  # the space before the answer belongs to the answer's first token
            text += f" {value}{SEP2}"
            spans.append((start, len(text)))
    return text, spans


def tokenize(conversations: list[dict], tokenizer, template: str, image_seq_length: int, has_image: bool,
             max_length: int | None = None) -> Tokenized:
    """Input ids (with ``image_seq_length`` image tokens per ``<image>``) and labels (-100 = not trained)."""
    text, spans = render(conversations, template, has_image)
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids, labels = [tokenizer.bos_token_id], [IGNORE_INDEX]
    offset = 0
    for k, chunk in enumerate(text.split(IMAGE_TOKEN)):
        if k > 0:
            ids += [image_id] * image_seq_length
            labels += [IGNORE_INDEX] * image_seq_length
            offset += len(IMAGE_TOKEN)
        if chunk:
            enc = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
            for tok, (start, _) in zip(enc["input_ids"], enc["offset_mapping"]):
                pos = offset + start
                ids.append(tok)
                labels.append(tok if any(a <= pos < b for a, b in spans) else IGNORE_INDEX)
        offset += len(chunk)
    if max_length is not None and len(ids) > max_length:
        if image_id in ids[max_length:]:
            # An image cut apart would not match its features: drop the image tokens, train nothing.
            kept = [t for t in ids if t != image_id][:max_length]
            return Tokenized(kept, [IGNORE_INDEX] * len(kept), has_image=False, truncated=True)
        # Labels are per token, so cutting both lists at the same place keeps every mask aligned.
        ids, labels = ids[:max_length], labels[:max_length]
        return Tokenized(ids, labels, has_image=has_image and image_id in ids, truncated=True)
    return Tokenized(ids, labels, has_image=has_image and image_id in ids)


def show_label_mask(conversations: list[dict], tokenizer, template: str, has_image: bool = True) -> str:
    """One sample as the model is trained on it: trained tokens in ``[brackets]``, masked ones plain (an
    image stands as one ``<image>`` token), after a header with the counts. For reading, not training."""
    t = tokenize(conversations, tokenizer, template, image_seq_length=1, has_image=has_image)
    pieces = [tokenizer.decode([i]) if label == IGNORE_INDEX else f"[{tokenizer.decode([i])}]"
              for i, label in zip(t.input_ids, t.labels)]
    return f"--- {template}: {t.n_trained} trained of {len(t.input_ids)} tokens\n{''.join(pieces)}\n"
