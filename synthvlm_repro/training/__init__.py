"""Stage 04: LLaVA-1.5 training with transformers' native Llava classes."""
