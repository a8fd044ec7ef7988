"""The generic pipeline path with a tiny random Stable Diffusion 3 (the official code's default model).

SD3 is built here without its T5 encoder (``text_encoder_3=None``, a configuration diffusers supports),
because no T5 tokenizer can be built offline cheaply; the two CLIP encoders, the MMDiT transformer,
the 16-channel VAE and the flow-matching scheduler are SD3's own classes.
"""

import pandas as pd
import pytest

from synthvlm_repro.atomic import write_json
from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.sample_data import load_sample_captions


@pytest.fixture(scope="module")
def tiny_sd3(tmp_path_factory):
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from synthvlm_repro.tiny_models import clip_tokenizer

    torch.manual_seed(0)
    tok = clip_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                projection_dim=32, max_position_embeddings=77, hidden_act="gelu",
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.eos_token_id)
    transformer = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
                                        caption_projection_dim=32, pooled_projection_dim=64, pos_embed_max_size=16)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=16, block_out_channels=[16, 16, 32, 32],
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        layers_per_block=1, norm_num_groups=8, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5305)
    pipe = StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=vae, text_encoder=CLIPTextModelWithProjection(CLIPTextConfig(**text)),
                                    tokenizer=tok, text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text)),
                                    tokenizer_2=clip_tokenizer(), text_encoder_3=None, tokenizer_3=None)
    path = tmp_path_factory.mktemp("sd3") / "tiny-sd3"
    pipe.save_pretrained(path)
    return path


def test_sd3_runs_through_the_generic_pipeline_path(tmp_path, tiny_sd3):
    from diffusers import StableDiffusion3Pipeline

    from synthvlm_repro.synthesis.run import synthesize

    ctx = prepare_run("smoke", tmp_path / "run", [f"synthesis.model={tiny_sd3}", "synthesis.refiner=null",
                                                  "synthesis.drop_components=[text_encoder_3, tokenizer_3]",
                                                  "synthesis.steps=2", "synthesis.guidance_scale=10.0",
                                                  "synthesis.max_sequence_length=64", "synthesis.repeat=1",
                                                  "synthesis.limit=null"])
    write_json(ctx.paths.caption_json, [{"id": r["id"], "caption": r["caption"]} for r in load_sample_captions()[:3]])
    from synthvlm_repro.synthesis.pipelines import ImageGenerator

    generator = ImageGenerator.from_config(ctx.cfg.synthesis, "cpu")
    assert isinstance(generator.pipe, StableDiffusion3Pipeline) and generator.refiner is None
    result = synthesize(ctx, generator=generator, progress=False)
    frame = pd.read_parquet(ctx.paths.synthesis_manifest)
    assert result.generated == 3 and len(frame) == 3 and set(frame["status"]) == {"ok"}
    assert frame["refiner"].iloc[0] == "" and frame["model_revision"].iloc[0] == "local"
    # seeded like SDXL: the same caption and seed give the same pixels again
    again = generator.render([frame["caption"].iloc[0]], [int(frame["seed"].iloc[0])])
    assert again.shape == (1, 64, 64, 3)
    assert (again == generator.render([frame["caption"].iloc[0]], [int(frame["seed"].iloc[0])])).all()
