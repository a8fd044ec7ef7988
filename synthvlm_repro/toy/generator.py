"""The toy text-to-image generator: a diffusers ``StableDiffusionPipeline`` trained here on renders.

Parts (all diffusers/transformers classes, saved with ``save_pretrained`` so stage 02 loads the folder
through ``AutoPipelineForText2Image`` like any hub pipeline):
- ``AutoencoderKL`` with two downsamplings (32x32x3 <-> 8x8x8), trained first to reconstruct renders;
  ``scaling_factor`` is set from its latents' spread, as SD's is;
- ``CLIPTextModel`` + ``CLIPTokenizer`` (CLIP's real BPE, cut to the first merges), trained jointly with
- ``UNet2DConditionModel`` with the epsilon objective on ``DDPMScheduler``'s noise schedule; captions
  are dropped 10% of the time so classifier-free guidance works; sampling uses ``DDIMScheduler``.
The training loop is the standard diffusers text-to-image recipe written out because diffusers ships
it only as an example script, not as an importable function.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import trange

from synthvlm_repro.toy.world import SIZE, caption, render, sample_scene, scene_ids

SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def _pool(n: int) -> tuple[torch.Tensor, list[str]]:
    from tqdm.auto import tqdm

    ids = scene_ids("gen", n)
    images = np.stack([np.asarray(render(sample_scene(i), i)) for i in tqdm(ids, desc="renders (generator)")])
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x, [caption(sample_scene(i), i) for i in ids]


def make_vae(spec: dict):
    from diffusers import AutoencoderKL

    c = spec["vae_channels"]
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * len(c),
                         up_block_types=("UpDecoderBlock2D",) * len(c), block_out_channels=tuple(c),
                         layers_per_block=1, latent_channels=spec["latent_channels"], norm_num_groups=8,
                         sample_size=SIZE, mid_block_add_attention=False)


def train_vae(spec: dict, images: torch.Tensor, progress: bool = True):
    torch.manual_seed(0)
    vae = make_vae(spec)
    opt = torch.optim.AdamW(vae.parameters(), lr=spec["lr"])
    gen = torch.Generator().manual_seed(1)
    vae.train()
    for _ in trange(spec["vae_steps"], desc="toy VAE", disable=not progress):
        x = images[torch.randint(len(images), (spec["vae_batch"],), generator=gen)]
        dist = vae.encode(x).latent_dist
        recon = vae.decode(dist.sample()).sample
        loss = F.mse_loss(recon, x) + 1e-5 * dist.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    vae.eval()
    with torch.no_grad():
        std = torch.cat([vae.encode(images[i:i + 256]).latent_dist.mean for i in range(0, 1024, 256)]).std()
    vae.register_to_config(scaling_factor=float(1.0 / std))
    return vae


def make_text_encoder(spec: dict):
    from transformers import CLIPTextConfig, CLIPTextModel

    from synthvlm_repro.tiny_models import clip_tokenizer

    tok = clip_tokenizer(model_max_length=spec["max_tokens"])
    cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=spec["text_width"], intermediate_size=2 * spec["text_width"],
                         num_hidden_layers=spec["text_layers"], num_attention_heads=2,
                         max_position_embeddings=spec["max_tokens"], bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    return tok, CLIPTextModel(cfg)


def make_unet(spec: dict):
    from diffusers import UNet2DConditionModel

    c = spec["unet_channels"]
    return UNet2DConditionModel(sample_size=SIZE // 2 ** (len(spec["vae_channels"]) - 1), in_channels=spec["latent_channels"],
                                out_channels=spec["latent_channels"], layers_per_block=1, block_out_channels=tuple(c),
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=spec["text_width"], attention_head_dim=8, norm_num_groups=16)


def train_generator(spec: dict, progress: bool = True):
    """``(vae, tokenizer, text_encoder, unet)`` trained on clean renders."""
    from diffusers import DDPMScheduler

    images, captions = _pool(spec["pool"])
    vae = train_vae(spec, images, progress)
    with torch.no_grad():
        moments = torch.cat([vae.encode(images[i:i + 256]).latent_dist.parameters for i in range(0, len(images), 256)])
    torch.manual_seed(0)
    tok, text_encoder = make_text_encoder(spec)
    unet = make_unet(spec)
    ids = tok(captions, padding="max_length", truncation=True, return_tensors="pt").input_ids
    empty = tok([""], padding="max_length", truncation=True, return_tensors="pt").input_ids
    noise_sched = DDPMScheduler(**SCHEDULE)
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=spec["lr"], weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=spec["steps"], pct_start=0.05)
    gen = torch.Generator().manual_seed(2)
    unet.train(), text_encoder.train()
    for _ in trange(spec["steps"], desc="toy UNet", disable=not progress):
        pick = torch.randint(len(images), (spec["batch"],), generator=gen)
        mean, logvar = moments[pick].chunk(2, dim=1)
        latents = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)) * vae.config.scaling_factor
        tokens = ids[pick].clone()
        drop = torch.rand(len(pick), generator=gen) < 0.1
        tokens[drop] = empty
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(pick),), generator=gen)
        noisy = noise_sched.add_noise(latents, noise, t)
        pred = unet(noisy, t, encoder_hidden_states=text_encoder(tokens).last_hidden_state).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
    return vae, tok, text_encoder.eval(), unet.eval()


def build_generator(out: Path, spec: dict) -> None:
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    vae, tok, text_encoder, unet = train_generator(spec)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
                                   scheduler=DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=False),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(out)
