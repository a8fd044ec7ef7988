"""Stage 02 speed: the kit's generator vs a reimplementation of the official SynthVLM loop.

Both render the same prompts with the same pipelines, steps and size (SDXL base + refiner, ensemble of
experts). The official loop (``diffusions/img_from_sdxl.py`` of starriver030515/SynthVLM) makes one
pipeline call per prompt, no batching, no generator, and saves each image; the kit runs
``synthvlm_repro.synthesis.run.synthesize`` (batched, seeded, journaled, atomic writes, broken-image
check). Weights are random: they do not change the cost. The official code passes ``denoising_end``
to the refiner (a bug that also changes how many refiner steps run); here both use the correct
``denoising_start`` hand-off so they do the same UNet work.

  python bench/synthesis_bench.py --device cpu --quick        # mid-size random SDXL-shaped UNet, 128 px
  python bench/synthesis_bench.py --device cpu                # 256 px
  python bench/synthesis_bench.py --device cpu --no-batch-invariant  # the cost of synthesis.batch_invariant
  python bench/synthesis_bench.py --device cuda               # full SDXL architecture, 1024², fp16
  python bench/synthesis_bench.py --device cuda --compile     # + torch.compile of both UNets (kit only)

On CUDA it also counts the UNet FLOPs per image with ``torch.utils.flop_counter`` and prints the
achieved TFLOP/s. Fewer steps than the paper's 60 keep the GPU run short; per-image time is linear in
the step count (the UNet dominates), and the script prints the 60-step extrapolation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

# stabilityai/stable-diffusion-xl-base-1.0 and -refiner-1.0 configs (public model cards), as dicts so no
# download is needed. "mid" is the same architecture shrunk for a CPU.
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=[320, 640, 1280],
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    attention_head_dim=[5, 10, 20], transformer_layers_per_block=[1, 2, 10], cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, norm_num_groups=32)
SDXL_REFINER_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=[384, 768, 1536, 1536],
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    attention_head_dim=[6, 12, 24, 24], transformer_layers_per_block=4, cross_attention_dim=1280,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2560, norm_num_groups=32)
SDXL_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=32,
    sample_size=1024, scaling_factor=0.13025, force_upcast=True)
CLIP_L_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                   num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768)
OPENCLIP_BIGG_TEXT = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                          num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280)

MID = {
    "unet": dict(SDXL_UNET, block_out_channels=[96, 192, 384], attention_head_dim=[2, 4, 8],
                 transformer_layers_per_block=[1, 1, 2], cross_attention_dim=384,
                 addition_time_embed_dim=32, projection_class_embeddings_input_dim=6 * 32 + 256),
    "refiner_unet": dict(SDXL_REFINER_UNET, block_out_channels=[96, 192, 384, 384], attention_head_dim=[2, 4, 8, 8],
                         transformer_layers_per_block=1, cross_attention_dim=256, addition_time_embed_dim=32,
                         projection_class_embeddings_input_dim=5 * 32 + 256),
    "vae": dict(SDXL_VAE, block_out_channels=[32, 64, 128, 128], layers_per_block=1),
    "te1": dict(CLIP_L_TEXT, hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                projection_dim=128),
    "te2": dict(OPENCLIP_BIGG_TEXT, hidden_size=256, intermediate_size=1024, num_hidden_layers=4,
                num_attention_heads=4, projection_dim=256),
}
FULL = {"unet": SDXL_UNET, "refiner_unet": SDXL_REFINER_UNET, "vae": SDXL_VAE, "te1": CLIP_L_TEXT,
        "te2": OPENCLIP_BIGG_TEXT}
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                 timestep_spacing="leading", prediction_type="epsilon")


def build_pipelines(spec: dict, device: str, dtype: torch.dtype):
    """SDXL base + refiner with random weights, the refiner sharing the VAE and the big text encoder
    (as in diffusers' SDXL guide)."""
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline,
                           StableDiffusionXLPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from synthvlm_repro.tiny_models import clip_tokenizer

    torch.manual_seed(0)
    with torch.device(device):
        te1 = CLIPTextModel(CLIPTextConfig(**spec["te1"]))
        te2 = CLIPTextModelWithProjection(CLIPTextConfig(**spec["te2"]))
        unet = UNet2DConditionModel(**spec["unet"])
        refiner_unet = UNet2DConditionModel(**spec["refiner_unet"])
        vae = AutoencoderKL(**spec["vae"])
    modules = [te1, te2, unet, refiner_unet, vae]
    for m in modules:
        m.to(dtype).eval()
    tok = clip_tokenizer()
    base = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tok, tokenizer_2=tok,
                                     unet=unet, scheduler=EulerDiscreteScheduler(**SCHEDULER))
    refiner = StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=None, text_encoder_2=te2, tokenizer=None,
                                               tokenizer_2=tok, unet=refiner_unet,
                                               scheduler=EulerDiscreteScheduler(**SCHEDULER),
                                               requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
    for p in (base, refiner):
        p.set_progress_bar_config(disable=True)
    return base, refiner


def official_loop(base, refiner, prompts, args, out_dir: Path) -> float:
    """The official loop's shape: one prompt per call, no generator, save each image as it comes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, prompt in enumerate(prompts):
        latents = base(prompt=prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=args.guidance,
                       width=args.size, height=args.size, denoising_end=args.high_noise_frac,
                       output_type="latent").images
        image = refiner(prompt=prompt, negative_prompt="", num_inference_steps=args.steps,
                        guidance_scale=args.guidance, denoising_start=args.high_noise_frac, image=latents).images[0]
        image.save(out_dir / f"{i:09d}.jpg")
    _sync()
    return time.perf_counter() - t0


def kit_run(base, refiner, prompts, args, run_dir: Path, vae_upcast: bool | None):
    """``synthesize`` on a fresh run dir with the already built pipelines; returns (seconds, kept images)."""
    import pandas as pd

    from synthvlm_repro.atomic import write_json
    from synthvlm_repro.run_context import prepare_run
    from synthvlm_repro.synthesis.pipelines import ImageGenerator, RenderSettings
    from synthvlm_repro.synthesis.run import synthesize

    overrides = [f"synthesis.steps={args.steps}", f"synthesis.width={args.size}", f"synthesis.height={args.size}",
                 f"synthesis.guidance_scale={args.guidance}", f"synthesis.batch_size={args.batch_size}",
                 "synthesis.repeat=1", "synthesis.limit=null", "synthesis.model=bench:random-sdxl-base",
                 "synthesis.refiner=bench:random-sdxl-refiner", f"synthesis.high_noise_frac={args.high_noise_frac}",
                 f"synthesis.vae_upcast={json.dumps(vae_upcast)}", f"device={args.device}",
                 f"synthesis.batch_invariant={json.dumps(not args.no_batch_invariant)}"]
    ctx = prepare_run("smoke", run_dir, overrides)
    write_json(ctx.paths.caption_json, [{"id": f"b{i:05d}", "caption": p} for i, p in enumerate(prompts)])
    generator = ImageGenerator(base, refiner, RenderSettings.from_config(ctx.cfg.synthesis), vae_upcast,
                               ctx.cfg.synthesis.batch_invariant)
    t0 = time.perf_counter()
    synthesize(ctx, generator=generator, progress=False)
    _sync()
    seconds = time.perf_counter() - t0
    frame = pd.read_parquet(ctx.paths.synthesis_manifest)
    broken = int((frame["status"] == "broken").sum())
    if broken:  # random fp16 weights can overflow; then kept counts mean little, say so
        print(f"kit: {broken} of {len(frame)} images broken ({dict(frame['reason'].value_counts())}), "
              f"{int(frame['retried_with_upcast'].sum())} re-decoded in fp32", flush=True)
    return seconds, int((frame["status"] == "ok").sum())


def unet_flops_per_image(pipe, size: int, steps_run: int, dtype) -> float:
    """FLOPs of the UNet calls for one image: one CFG forward (batch 2) × the steps it runs."""
    from torch.utils.flop_counter import FlopCounterMode

    unet = pipe.unet
    unet = getattr(unet, "_orig_mod", unet)
    cfg = unet.config
    latent = size // 8
    device = next(unet.parameters()).device
    sample = torch.randn(2, cfg.in_channels, latent, latent, device=device, dtype=dtype)
    text = torch.randn(2, 77, cfg.cross_attention_dim, device=device, dtype=dtype)
    n_time_ids = (cfg.projection_class_embeddings_input_dim - pipe.text_encoder_2.config.projection_dim) \
        // cfg.addition_time_embed_dim
    added = {"text_embeds": torch.randn(2, pipe.text_encoder_2.config.projection_dim, device=device, dtype=dtype),
             "time_ids": torch.randn(2, n_time_ids, device=device, dtype=dtype)}
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        unet(sample, torch.tensor(500, device=device), encoder_hidden_states=text, added_cond_kwargs=added)
    return counter.get_total_flops() * steps_run


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cpu: mid-size random SDXL-shaped model; cuda: full SDXL architecture, fp16")
    parser.add_argument("--quick", action="store_true", help="smallest useful run (CPU: 128 px, 4 steps, 4 images)")
    parser.add_argument("--size", type=int, default=None, help="image side in px (default: cpu 256, cuda 1024)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: cpu 8, cuda 20)")
    parser.add_argument("--images", type=int, default=None, help="images per contender (default: cpu 8, cuda 16)")
    parser.add_argument("--batch-size", type=int, default=8, help="kit images per pipeline call (default 8)")
    parser.add_argument("--guidance", type=float, default=20.0, help="guidance scale (official SDXL config: 20)")
    parser.add_argument("--high-noise-frac", type=float, default=0.8, help="base/refiner hand-off (official: 0.8)")
    parser.add_argument("--compile", action="store_true", help="torch.compile both UNets for the kit run")
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode for --compile (the kit's synthesis.compile uses "
                             "max-autotune-no-cudagraphs; it compiles for minutes)")
    parser.add_argument("--kit-vae-upcast", action="store_true",
                        help="kit decodes with the VAE in fp32 like the official loop (default: fp16 decode, as with "
                             "synthesis.vae=madebyollin/sdxl-vae-fp16-fix, broken images re-decoded in fp32)")
    parser.add_argument("--no-batch-invariant", action="store_true",
                        help="kit on CPU: batched kernels (synthesis.batch_invariant=false); the default runs linear, "
                             "conv and group norm one image at a time so an image's bytes do not depend on its batch "
                             "(mid model, 2 threads: ~1.65x slower at 128 px, ~1.05-1.25x at 256 px; none on CUDA)")
    parser.add_argument("--out", default=None, help="folder for the rendered files (default: a temp dir)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device visible")
    args.size = args.size or (1024 if cuda else (128 if args.quick else 256))
    args.steps = args.steps or (20 if cuda else (4 if args.quick else 8))
    args.images = args.images or (16 if cuda else (4 if args.quick else 8))
    dtype = torch.float16 if cuda else torch.float32
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    spec = FULL if cuda else MID
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    from synthvlm_repro.sample_data import load_sample_captions

    captions = [r["caption"] for r in load_sample_captions()]
    prompts = [captions[i % len(captions)] for i in range(args.images)]
    t0 = time.perf_counter()
    base, refiner = build_pipelines(spec, args.device, dtype)
    n_params = sum(p.numel() for p in base.unet.parameters()) / 1e9
    print(f"device {args.device} ({torch.cuda.get_device_name() if cuda else 'CPU'}), UNet {n_params:.2f} B params, "
          f"{args.size}², {args.steps} steps, {args.images} images, kit batch {args.batch_size}, "
          f"built in {time.perf_counter() - t0:.1f} s", flush=True)

    base_steps = int(round(args.steps * args.high_noise_frac))
    flops = (unet_flops_per_image(base, args.size, base_steps, dtype)
             + unet_flops_per_image(refiner, args.size, args.steps - base_steps, dtype))

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        official_loop(base, refiner, prompts[:1], args, root / "warmup")  # kernels, allocator
        t_official = official_loop(base, refiner, prompts, args, root / "official")
        if args.compile:
            from synthvlm_repro.synthesis.pipelines import compile_denoiser

            for p in (base, refiner):
                compile_denoiser(p, args.compile_mode)
        upcast = True if args.kit_vae_upcast else (False if cuda else None)
        warm = min(args.batch_size, args.images)
        kit_run(base, refiner, prompts[:warm], args, root / "kit-warmup", upcast)  # compile happens here
        t_kit, kept = kit_run(base, refiner, prompts, args, root / "kit", upcast)

    official_rate, kit_rate = args.images / t_official, kept / t_kit
    unit, scale = ("TFLOP/s", 1e12) if cuda else ("GFLOP/s", 1e9)
    print(f"\n{'contender':<14}{'seconds':>10}{'kept':>6}{'kept img/s':>12}{'UNet ' + unit:>14}"
          f"{'img/s @60 steps':>17}")
    for name, seconds, n_kept, rate in (("official loop", t_official, args.images, official_rate),
                                        ("kit", t_kit, kept, kit_rate)):
        achieved = flops * (args.images / seconds) / scale
        print(f"{name:<14}{seconds:>10.2f}{n_kept:>6}{rate:>12.4f}{achieved:>14.2f}{rate * args.steps / 60:>17.4f}")
    print(f"\nspeed-up (kept images/s, kit / official): {kit_rate / official_rate:.2f}x")
    print(f"UNet FLOPs per image (base {base_steps} + refiner {args.steps - base_steps} steps, CFG): "
          f"{flops / 1e12:.3f} TFLOP; at 60 steps: {flops * 60 / args.steps / 1e12:.3f} TFLOP")
    print("img/s @60 steps = measured rate x steps / 60 (UNet-dominated; text encoding and VAE decode are "
          "per image, so this slightly underestimates)")
    if args.json:
        result = {"device": torch.cuda.get_device_name() if cuda else "cpu", "size": args.size, "steps": args.steps,
                  "images": args.images, "batch_size": args.batch_size, "compile": args.compile,
                  "batch_invariant": not args.no_batch_invariant,
                  "official_s": round(t_official, 3), "kit_s": round(t_kit, 3), "kit_kept": kept,
                  "official_img_per_s": round(official_rate, 4), "kit_kept_img_per_s": round(kit_rate, 4),
                  "speedup": round(kit_rate / official_rate, 3), "unet_tflop_per_image": round(flops / 1e12, 4),
                  "kit_unet_tflop_per_s": round(flops * args.images / t_kit / 1e12, 2)}
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
