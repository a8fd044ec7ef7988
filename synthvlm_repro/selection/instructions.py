"""LLaVA's brief image-description instructions (LLaVA paper, Table 8; its pretraining prompts).

The official SynthVLM ``gen_synth_dataset`` copies this list with a missing comma, which joins
"Summarize the visual content of the image." and "Give a short and clear explanation of the
subsequent image." into one string (10 prompts instead of 11); this list has all 11.
"""

from __future__ import annotations

import hashlib

BRIEF_DESCRIPTION_INSTRUCTIONS = (
    "Describe the image concisely.",
    "Provide a brief description of the given image.",
    "Offer a succinct explanation of the picture presented.",
    "Summarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.",
    "Share a concise interpretation of the image provided.",
    "Present a compact description of the photo's key features.",
    "Relay a brief, clear account of the picture shown.",
    "Render a clear and concise summary of the photo.",
    "Write a terse but informative summary of the picture.",
    "Create a compact narrative representing the image presented.",
)


def brief_instruction(pair_id: str, seed: int = 0) -> str:
    """The instruction for one pair, drawn by a seed from (global seed, id): the same on every rerun."""
    digest = hashlib.sha256(f"{seed}\x1finstruction\x1f{pair_id}".encode()).digest()
    return BRIEF_DESCRIPTION_INSTRUCTIONS[int.from_bytes(digest[:8], "big") % len(BRIEF_DESCRIPTION_INSTRUCTIONS)]
