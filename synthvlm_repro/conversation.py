"""LLaVA-1.5's ``vicuna_v1`` conversation format: the one definition training and evaluation share.

Written from LLaVA's ``conv_vicuna_v1`` (``llava/conversation.py``): system prompt, roles
``USER``/``ASSISTANT``, separators ``" "`` after a user turn and ``"</s>"`` after an answer; the
tokenizer adds ``<s>``. llava-hf's own chat template lacks the system prompt (anchors.md B3.5), so the
kit renders prompts itself.
"""

from __future__ import annotations

from typing import Any, Sequence

SYSTEM_PROMPT = ("A chat between a curious user and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the user's questions.")
ROLES = ("USER", "ASSISTANT")
SEP, SEP2 = " ", "</s>"
IMAGE_TOKEN = "<image>"


def vicuna_v1_prompt(turns: Sequence[tuple[str, str | None]]) -> str:
    """Render ``[(role, message)]``; a final ``(ASSISTANT, None)`` leaves the prompt open for generation."""
    text = SYSTEM_PROMPT + SEP
    for i, (role, message) in enumerate(turns):
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (expected one of {ROLES})")
        if message is None:
            if i != len(turns) - 1:
                raise ValueError("only the last turn may be open (message None)")
            text += f"{role}:"
        else:
            text += f"{role}: {message}" + (SEP if role == ROLES[0] else SEP2)
    return text


def first_gpt_turn(record) -> Any:
    """The caption of a LLaVA record (``{"conversations": [{"from", "value"}, ...]}``): the value of its first
    ``gpt`` turn, as stored (the caller checks its type); None when the record has no such turn."""
    turns = record.get("conversations") if isinstance(record, dict) else None
    for turn in turns if isinstance(turns, list) else []:
        if isinstance(turn, dict) and turn.get("from") == "gpt":
            return turn.get("value")
    return None
