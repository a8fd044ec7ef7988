"""Caption a few images with a trained llava-hf checkpoint (a quick look at what training produced)."""

from __future__ import annotations

from pathlib import Path

PROMPT = "Describe the image briefly."


def caption_images(checkpoint: str | Path, images: list[str | Path], prompt: str = PROMPT,
                   max_new_tokens: int = 24, device: str = "cpu") -> list[str]:
    """Greedy captions, one per image, with the checkpoint's own (v1) chat template."""
    import torch
    from PIL import Image

    from synthvlm_repro.runtime.llava import load_llava

    model, processor = load_llava(checkpoint, device=device)
    conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(conv, add_generation_prompt=True)
    pictures = [Image.open(p).convert("RGB") for p in images]
    batch = processor(images=pictures, text=[text] * len(pictures), padding=True, return_tensors="pt").to(device)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    return [s.strip() for s in processor.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)]
