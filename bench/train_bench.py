"""LLaVA-1.5 training throughput (stage 1 projector-only, or stage 2 with the LM): samples/s, tokens/s and MFU.

Baseline: LLaVA-1.5-7B stage 1 on LCS-558K takes ~3.5 h on 8×A100-80G (haotian-liu/LLaVA README,
anchors.md §A1) = 558,128 / (3.5 h × 8 GPUs) ≈ 5.5 samples/s per GPU.

- ``--device cpu`` (default arch ``tiny``): the smoke profile's tiny LLaVA built from its parts.
- ``--device cuda`` (default arch ``7b``): LLaVA-1.5-7B's architecture from its public configs (CLIP
  ViT-L/14-336 + Vicuna-7B / Llama-2-7B dims, vocab 32064) with random bf16 weights created directly on
  the GPU, projector-only training as stage 1 (vision tower and LM frozen, gradient checkpointing), real
  sequence lengths: BOS + 576 image tokens + ``--caption-tokens`` caption tokens.

The step is the Trainer's inner step (forward, loss, backward, AdamW on the projector); image decoding and
the dataloader are not timed. FLOPs per sample are counted once with ``torch.utils.flop_counter`` on a batch
of one without gradient checkpointing (model FLOPs: frozen vision forward, LM forward + activation
gradients, projector forward + backward; recomputation excluded). MFU = counted FLOPs / step time / peak
dense bf16 FLOP/s of the card (H100/H200 SXM 989 TFLOP/s, A100 312).

Each step trains on its own seeded batch, and the per-step losses are in the JSON, so two runs with
different switches (``--no-grad-ckpt``, ``--attn``, ``--liger``, ``--compile``, ``--grad-accum``) can be compared
loss for loss with ``bench/compare_losses.py``. ``--stage 2`` trains projector + LM + head (fp32 master weights,
bf16 autocast; ``--optim adamw8bit`` for one GPU) and projects 665K samples on 8 GPUs against LLaVA's ~10 h.

    python bench/train_bench.py --device cpu --quick
    python bench/train_bench.py --device cuda                # ~2 min on one H100
    python bench/train_bench.py --device cuda --stage 2 --optim adamw8bit --steps 6
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

BASELINE_SPS_PER_GPU = 558_128 / (3.5 * 3600) / 8
STAGE2_SAMPLES = 665_298  # llava_v1_5_mix665k.json rows
STAGE2_LLAVA_HOURS = 10  # LLaVA README: 7B stage 2 ~10 h on 8×A100-40G (anchors.md §A1)
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def llava_7b_config(lm_layers: int = 32, vision_layers: int = 24):
    """LLaVA-1.5-7B's config (llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14-336 + Vicuna-7B v1.5, 32064 rows)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=vision_layers,
                              num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768,
                              hidden_act="quick_gelu", layer_norm_eps=1e-5)
    text = LlamaConfig(vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=lm_layers,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
                       rms_norm_eps=1e-5, tie_word_embeddings=False, pad_token_id=32001)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_index=32000, image_seq_length=576,
                       vision_feature_layer=-2, vision_feature_select_strategy="default", projector_hidden_act="gelu")


def build_model(arch: str, device: str, dtype: torch.dtype, lm_layers: int, vision_layers: int):
    """``(model, image_token_id, n_image_tokens, image_size, vocab)``."""
    from transformers import LlavaForConditionalGeneration

    if arch == "tiny":
        from synthvlm_repro.config import load_config
        from synthvlm_repro.training.builder import build_llava

        model = build_llava(load_config("smoke").training)[0]
    else:
        config = llava_7b_config(lm_layers, vision_layers)
        default = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):  # random init straight on the device: no CPU copy of 7B weights
                model = LlavaForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(default)
    model.to(device=device, dtype=dtype)
    c = model.config
    return model, c.image_token_index, c.image_seq_length, c.vision_config.image_size, c.text_config.vocab_size


def make_batch(batch: int, image_id: int, n_image: int, caption: int, image_size: int, vocab: int, device: str,
               dtype: torch.dtype, seed: int = 0) -> dict:
    """A stage-1 batch: BOS + image tokens (masked) + caption tokens (trained)."""
    g = torch.Generator().manual_seed(seed)
    text = torch.randint(3, min(vocab, 32000) - 1, (batch, caption), generator=g)
    text[text == image_id] = 3  # (tiny vocabularies) a caption token must not be the image placeholder
    ids = torch.cat([torch.ones(batch, 1, dtype=torch.long), torch.full((batch, n_image), image_id), text], 1)
    labels = ids.clone()
    labels[:, : 1 + n_image] = -100
    pixels = torch.randn(batch, 3, image_size, image_size, generator=g)
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": torch.ones_like(ids).to(device),
            "pixel_values": pixels.to(device, dtype)}


def stage1_trainable(model) -> list[torch.nn.Parameter]:
    model.requires_grad_(False)
    model.model.multi_modal_projector.requires_grad_(True)
    model.model.multi_modal_projector.float()  # fp32 master weights for the trained part, bf16 math via autocast
    return list(model.model.multi_modal_projector.parameters())


def count_flops_per_sample(model, batch_one, device: str, autocast: bool) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16,
                            enabled=autocast):
            loss = model(**batch_one).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def peak_flops(device: str) -> tuple[str, float | None]:
    if not device.startswith("cuda"):
        return "cpu", None
    name = torch.cuda.get_device_name()
    return name, next((v for k, v in PEAK_BF16.items() if k in name), None)


def stage2_trainable(model) -> list[torch.nn.Parameter]:
    """Stage 2 (LLaVA ``finetune.sh``): projector + LM + head trained, fp32 master weights, vision frozen."""
    model.requires_grad_(False)
    parts = [model.model.multi_modal_projector, model.model.language_model, model.lm_head]
    for part in parts:
        part.requires_grad_(True)
        part.float()
    return [p for part in parts for p in part.parameters()]


def make_optimizer(params, name: str, on_gpu: bool, lr: float):
    """AdamW (fused on CUDA) or bitsandbytes' 8-bit AdamW (one-GPU stage 2: states 2 bytes/param, not 8)."""
    if name == "adamw8bit":
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise SystemExit("--optim adamw8bit needs bitsandbytes (pip install bitsandbytes)") from None
        return bnb.optim.AdamW8bit(params, lr=lr, weight_decay=0.0)
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=on_gpu or None)


def apply_fused_kernels(model, liger: bool, compile_model: bool):
    """liger-kernel's Llama kernels (RMSNorm, RoPE, SwiGLU, fused linear cross-entropy) and/or torch.compile."""
    if liger:
        try:
            from liger_kernel.transformers import _apply_liger_kernel_to_instance
        except ImportError:
            raise SystemExit("--liger needs liger-kernel (pip install liger-kernel)") from None
        _apply_liger_kernel_to_instance(model=model)
    return torch.compile(model) if compile_model else model


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--arch", choices=("tiny", "7b"), default=None, help="default: tiny on cpu, 7b on cuda")
    p.add_argument("--stage", type=int, choices=(1, 2), default=1,
                   help="1: projector only (default); 2: projector + LM, fp32 master weights (LLaVA finetune.sh)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="samples per optimizer step (default: LLaVA's per-device 32 / 16 on cuda, 8 on cpu)")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step (same samples per step)")
    p.add_argument("--caption-tokens", type=int, default=None,
                   help="trained text tokens per sample (default 64 for stage 1, 448 for stage 2)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default: 10 cuda, 20 cpu)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--no-grad-ckpt", action="store_true", help="disable gradient checkpointing (LLaVA uses it)")
    p.add_argument("--attn", default="sdpa", choices=("sdpa", "eager", "flash_attention_2"),
                   help="attention kernel (default sdpa, as from_pretrained picks)")
    p.add_argument("--liger", action="store_true", help="liger-kernel's fused Llama kernels (CUDA, needs liger-kernel)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--optim", default="adamw", choices=("adamw", "adamw8bit"), help="optimizer (default adamw)")
    p.add_argument("--lm-layers", type=int, default=32, help="LM depth for --arch 7b (smaller: a dry run)")
    p.add_argument("--vision-layers", type=int, default=24, help="vision depth for --arch 7b")
    p.add_argument("--quick", action="store_true", help="few steps (a check that it runs, not a measurement)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; use 1 on a busy shared machine)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    a = p.parse_args(argv)

    on_gpu = a.device.startswith("cuda")
    arch = a.arch or ("7b" if on_gpu else "tiny")
    batch_size = a.batch_size or ((32 if a.stage == 1 else 16) if on_gpu else 8)
    caption_tokens = a.caption_tokens or (64 if a.stage == 1 else 448)
    steps = 3 if a.quick else (a.steps or (10 if on_gpu else 20))
    dtype = torch.bfloat16 if on_gpu else torch.float32
    if batch_size % a.grad_accum:
        raise SystemExit(f"--batch-size {batch_size} is not a multiple of --grad-accum {a.grad_accum}")
    torch.manual_seed(0)
    if a.threads:
        torch.set_num_threads(a.threads)
    if on_gpu:
        torch.backends.cuda.matmul.allow_tf32 = True

    t0 = time.perf_counter()
    model, image_id, n_image, image_size, vocab = build_model(arch, a.device, dtype, a.lm_layers, a.vision_layers)
    model.set_attn_implementation(a.attn)
    params = stage1_trainable(model) if a.stage == 1 else stage2_trainable(model)
    build_s = time.perf_counter() - t0
    opt = make_optimizer(params, a.optim, on_gpu, 1e-3 if a.stage == 1 else 2e-5)
    model.train()
    # one batch per step, the same in every run (so runs with different switches compare loss for loss)
    batches = [make_batch(batch_size, image_id, n_image, caption_tokens, image_size, vocab, a.device, dtype, seed=k)
               for k in range(a.warmup + steps)]
    one = {k: v[:1] for k, v in batches[0].items()}
    flops_sample = count_flops_per_sample(model, one, a.device, on_gpu)
    if not a.no_grad_ckpt:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    run_model = apply_fused_kernels(model, a.liger, a.compile)
    micro = batch_size // a.grad_accum
    losses = []
    for k, batch in enumerate(batches):
        if k == a.warmup:
            if on_gpu:
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
        total = 0.0
        for m in range(a.grad_accum):
            part = {key: v[m * micro:(m + 1) * micro] for key, v in batch.items()}
            with torch.autocast(device_type="cuda" if on_gpu else "cpu", dtype=torch.bfloat16, enabled=on_gpu):
                loss = run_model(**part).loss / a.grad_accum
            loss.backward()
            total = total + loss.detach()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(total)
    if on_gpu:
        torch.cuda.synchronize()
    step_s = (time.perf_counter() - t0) / steps
    losses = [float(x) for x in losses]
    loss = losses[-1]

    seq = 1 + n_image + caption_tokens
    sps = batch_size / step_s
    name, peak = peak_flops(a.device)
    n_total = sum(p.numel() for p in model.parameters())
    switches = {"grad_ckpt": not a.no_grad_ckpt, "attn": a.attn, "liger": a.liger, "compile": a.compile,
                "grad_accum": a.grad_accum, "optim": a.optim}
    out = {
        "device": name, "arch": arch, "stage": a.stage, "params": n_total, "trainable": sum(p.numel() for p in params),
        "batch": batch_size, "seq_len": seq, **switches, "build_s": round(build_s, 2),
        "step_s": round(step_s, 4), "samples_per_s": round(sps, 2), "tokens_per_s": round(sps * seq, 1),
        "flops_per_sample": flops_sample, "achieved_tflops": round(flops_sample * sps / 1e12, 2),
        "mfu": round(flops_sample * sps / peak, 4) if peak else None, "loss": round(loss, 4),
        "losses": [round(x, 5) for x in losses],
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1) if on_gpu else None,
        "baseline_samples_per_s_per_gpu": round(BASELINE_SPS_PER_GPU, 2),
    }
    if not all(math.isfinite(x) for x in losses):
        raise SystemExit(f"non-finite loss {losses}: the benchmark model is broken")
    print(f"device {name} · arch {arch} · stage {a.stage} · {n_total / 1e6:,.1f} M params "
          f"({out['trainable'] / 1e6:.2f} M trained) · batch {batch_size} × {seq} tokens · {switches}"
          + ("" if on_gpu else f" · {torch.get_num_threads()} CPU threads"))
    print(f"step {step_s * 1e3:.1f} ms · {sps:.2f} samples/s · {sps * seq:,.0f} tokens/s · loss {loss:.3f}")
    print(f"FLOPs/sample {flops_sample / 1e9:,.2f} GFLOP (flop_counter, batch 1, no recompute) · "
          f"achieved {flops_sample * sps / 1e12:.3g} TFLOP/s" + (f" · MFU {out['mfu']:.1%}" if peak else ""))
    full_size = arch == "7b" and a.lm_layers == 32 and a.vision_layers == 24
    if full_size and a.stage == 1:
        print(f"LLaVA-1.5 baseline: {BASELINE_SPS_PER_GPU:.2f} samples/s per A100 (558K in 3.5 h on 8) → "
              f"×{sps / BASELINE_SPS_PER_GPU:.2f}; 558K would take {558_128 / sps / 3600:.2f} h on this one GPU, "
              f"SynthVLM's 100K {100_000 / sps / 3600:.2f} h")
    if a.stage == 2:
        out["projected_h_665k_8gpu"] = round(STAGE2_SAMPLES / (8 * sps) / 3600, 2)
        out["llava_reported_h_665k_8gpu"] = STAGE2_LLAVA_HOURS
        print(f"stage 2: 665K samples on 8 such GPUs ≈ {out['projected_h_665k_8gpu']:.2f} h (linear scaling, "
              f"{seq} tokens/sample assumed) vs LLaVA-1.5-7B's ~{STAGE2_LLAVA_HOURS} h on 8×A100-40G; peak "
              f"{out['peak_mem_gib']} GiB")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
