"""Stage 03: CLIPScore + lambda*SSIM selection into a LLaVA pretraining set."""
