"""Stage 02 on the tiny SDXL base + refiner: manifest, resume, shards, refiner hand-off, broken images,
regeneration from the manifest, grid search."""

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from synthvlm_repro.atomic import write_json
from synthvlm_repro.run_context import prepare_run
from synthvlm_repro.runtime.distributed import Shard
from synthvlm_repro.sample_data import load_sample_captions
from synthvlm_repro.synthesis.batch_invariance import batch_invariant
from synthvlm_repro.synthesis.images import broken_reason
from synthvlm_repro.synthesis.pipelines import ImageGenerator
from synthvlm_repro.synthesis.run import IncompleteManifestError, merge, synthesize

N_CAPTIONS = 6
SMALL = ["synthesis.steps=2", "synthesis.batch_size=4", "synthesis.repeat=2", "synthesis.limit=null"]


def make_ctx(run_dir, extra=(), n=N_CAPTIONS):
    ctx = prepare_run("smoke", run_dir, SMALL + list(extra))
    write_json(ctx.paths.caption_json, [{"id": r["id"], "caption": r["caption"]} for r in load_sample_captions()[:n]])
    return ctx


def file_hashes(ctx):
    root = ctx.paths.root
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(ctx.paths.synthesis_images.rglob("*.jpg"))}


@pytest.fixture(scope="module")
def generator():
    ctx = prepare_run("smoke", None, SMALL)
    return ImageGenerator.from_config(ctx.cfg.synthesis, "cpu")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, generator):
    """One uninterrupted single-process run."""
    ctx = make_ctx(tmp_path_factory.mktemp("ref"))
    result = synthesize(ctx, generator=generator, progress=False)
    return ctx, result


def test_run_writes_images_and_the_manifest_contract(reference):
    ctx, result = reference
    assert result.generated == 2 * N_CAPTIONS and result.merged and result.failed == 0
    frame = pd.read_parquet(ctx.paths.synthesis_manifest)
    for column in ("caption_id", "candidate", "caption", "seed", "path", "status", "model", "model_revision",
                   "refiner", "refiner_revision", "steps", "guidance_scale", "width", "height", "dtype",
                   "negative_prompt", "high_noise_frac", "batch_size", "seconds"):
        assert column in frame.columns, column
    assert len(frame) == 2 * N_CAPTIONS and not frame.duplicated(["caption_id", "candidate"]).any()
    assert set(frame["status"]) == {"ok"} and frame["model"].iloc[0] == "tiny:sdxl-base"
    assert frame["steps"].iloc[0] == 2 and (frame["seconds"] > 0).all()
    from PIL import Image

    image = Image.open(ctx.paths.root / frame["path"].iloc[0])
    assert image.format == "JPEG" and image.size == (64, 64)
    # candidates of one caption differ (own seeds), and the layout is images/<folder>/<id>_<k>.jpg
    first = frame[frame["caption_id"] == frame["caption_id"].iloc[0]]
    assert first["seed"].nunique() == 2 and len(set(file_hashes(ctx).values())) == 2 * N_CAPTIONS
    assert frame["path"].iloc[1].endswith(f"{frame['caption_id'].iloc[1]}_1.jpg")


def test_rerun_skips_finished_images_and_changed_settings_do_not(reference, generator):
    ctx, _ = reference
    before = file_hashes(ctx)
    again = synthesize(ctx, generator=generator, progress=False)
    assert (again.generated, again.skipped) == (0, 2 * N_CAPTIONS) and file_hashes(ctx) == before
    changed = make_ctx(ctx.paths.root, ["synthesis.guidance_scale=5.0"])
    with pytest.raises(IncompleteManifestError, match="12 of 12 images not generated yet"):
        merge(changed)  # other settings: nothing of the first run counts as done


def test_shards_give_the_same_bytes_and_the_last_shard_merges(tmp_path, reference, generator):
    ref_ctx, _ = reference
    ctx = make_ctx(tmp_path / "sharded")
    first = synthesize(ctx, Shard(1, 3), generator=generator, progress=False)
    assert not first.merged and not ctx.paths.synthesis_manifest.exists()
    assert synthesize(ctx, Shard(0, 3), generator=generator, progress=False).merged is False
    last = synthesize(ctx, Shard(2, 3), generator=generator, progress=False)
    assert last.merged and first.generated + last.generated < 2 * N_CAPTIONS
    assert file_hashes(ctx) == file_hashes(ref_ctx)
    ours = pd.read_parquet(ctx.paths.synthesis_manifest).drop(columns=["seconds", "shard"])
    theirs = pd.read_parquet(ref_ctx.paths.synthesis_manifest).drop(columns=["seconds", "shard"])
    pd.testing.assert_frame_equal(ours, theirs)


def test_an_image_has_the_same_bits_in_any_batch_on_cpu(generator):
    """``synthesis.batch_invariant`` (default): batch 1, 3, shuffled give bit-identical float images."""
    prompts, seeds = [r["caption"] for r in load_sample_captions()[:3]], [11, 12, 13]
    together = generator.render(prompts, seeds)
    alone = np.concatenate([generator.render([p], [s]) for p, s in zip(prompts, seeds)])
    shuffled = generator.render(prompts[::-1], seeds[::-1])[::-1]
    assert np.array_equal(together, alone) and np.array_equal(together, shuffled)
    assert np.abs(together[0] - together[1]).max() > 0.05  # different seeds give different images


def test_without_batch_invariance_batch_size_changes_pixels_only_by_rounding(generator):
    """Switched off, oneDNN convolutions, small-M sgemm and channels-last group norm round differently
    per batch size (measured up to ~5e-6 on these pixels, see synthesis/batch_invariance.py)."""
    plain = ImageGenerator(generator.pipe, generator.refiner, generator.settings, batch_invariant=False)
    prompts, seeds = [r["caption"] for r in load_sample_captions()[:3]], [11, 12, 13]
    together = plain.render(prompts, seeds)
    alone = np.concatenate([plain.render([p], [s]) for p, s in zip(prompts, seeds)])
    assert np.abs(together - alone).max() < 1e-3


@pytest.mark.parametrize("batch_size, shards", [(1, 1), (3, 2)])
def test_image_files_are_byte_identical_across_batch_sizes_and_shards(tmp_path, reference, generator, batch_size,
                                                                       shards):
    ref_ctx, _ = reference  # batch_size 4, one shard
    ctx = make_ctx(tmp_path / "other", [f"synthesis.batch_size={batch_size}"])
    for index in range(shards):
        synthesize(ctx, Shard(index, shards), generator=generator, progress=False)
    assert file_hashes(ctx) == file_hashes(ref_ctx)
    assert (pd.read_parquet(ctx.paths.synthesis_manifest)["batch_size"] == batch_size).all()


def test_refiner_takes_over_at_denoising_start(generator):
    """The kit's render equals diffusers' ensemble-of-experts recipe, and the refiner changes the image."""
    s = generator.settings
    prompt, seed = ["a red car on a road"], 5
    kit = generator.render(prompt, [seed])
    common = dict(negative_prompt=[""], num_inference_steps=s.steps, guidance_scale=s.guidance_scale)
    with batch_invariant("cpu"), torch.inference_mode():  # the kernels the kit runs on CPU
        latents = generator.pipe(prompt, width=s.width, height=s.height, denoising_end=s.high_noise_frac,
                                 output_type="latent", generator=[torch.Generator().manual_seed(seed)], **common).images
        recipe = generator.refiner(prompt, image=latents, denoising_start=s.high_noise_frac, output_type="np",
                                   generator=[torch.Generator().manual_seed(seed)], **common).images
    assert np.array_equal(kit, recipe)
    base_only = ImageGenerator(generator.pipe, None, s).render(prompt, [seed])
    assert np.abs(base_only - kit).max() > 0.01


def test_broken_detection_on_arrays():
    rng = np.random.default_rng(0)
    assert broken_reason(rng.random((8, 8, 3))) is None
    nan = rng.random((8, 8, 3))
    nan[0, 0, 0] = np.nan
    assert broken_reason(nan) == "nan"
    assert broken_reason(np.zeros((8, 8, 3))) == "black"
    assert broken_reason(np.full((8, 8, 3), 0.6) + rng.random((8, 8, 3)) * 1e-3) == "constant"


def test_nan_vae_output_is_marked_broken_and_retried(tmp_path):
    ctx = make_ctx(tmp_path / "broken", n=2)
    gen = ImageGenerator.from_config(ctx.cfg.synthesis, "cpu")
    with torch.no_grad():  # an overflowing decoder, as the SDXL VAE in fp16
        gen.refiner.vae.post_quant_conv.weight.fill_(float("nan"))
    result = synthesize(ctx, generator=gen, progress=False)
    frame = pd.read_parquet(ctx.paths.synthesis_manifest)
    assert result.broken == 4 and set(frame["status"]) == {"broken"} and set(frame["reason"]) == {"nan"}
    assert frame["retried_with_upcast"].all()
    assert (ctx.paths.root / frame["path"].iloc[0]).exists()  # kept on disk for inspection


def test_regenerate_from_the_manifest_alone(tmp_path, reference):
    from synthvlm_repro.synthesis.regenerate import config_from_row, regenerate

    ctx, _ = reference
    out = tmp_path / "copy"
    written = regenerate(ctx.paths.synthesis_manifest, out, progress=False)
    assert len(written) == 2 * N_CAPTIONS
    for path in written:
        rel = path.relative_to(out)
        assert path.read_bytes() == (ctx.paths.root / rel).read_bytes(), rel
    written[0].unlink()
    assert regenerate(ctx.paths.synthesis_manifest, out, only_missing=True, progress=False) == [written[0]]
    row = pd.read_parquet(ctx.paths.synthesis_manifest).iloc[0].to_dict()
    assert config_from_row(row).batch_invariant is True
    row.pop("batch_invariant")  # a manifest from before the switch was rendered with batched kernels
    assert config_from_row(row).batch_invariant is False


def test_grid_search_scores_every_setting(tmp_path):
    from synthvlm_repro.synthesis.grid import grid_search

    ctx = make_ctx(tmp_path / "grid", ["synthesis.grid_steps=[1,2]", "synthesis.grid_guidance=[5.0]"], n=3)
    summary = grid_search(ctx, n_captions=2, progress=False)
    assert len(summary) == 4 and set(summary["refiner"]) == {False, True}
    assert summary["clip_score"].between(0, 1).all() and (summary["n"] == 2).all()
    assert len(pd.read_parquet(ctx.paths.synthesis / "grid.parquet")) == 8
    assert (ctx.paths.figures / "synthesis_grid.png").exists()


def test_missing_captions_say_run_stage_01(tmp_path):
    ctx = prepare_run("smoke", tmp_path / "empty", SMALL)
    with pytest.raises(FileNotFoundError, match="run stage 01"):
        synthesize(ctx, progress=False)


@pytest.mark.slow
def test_notebook_in_the_smoke_pipeline(smoke_run):
    paths, record = smoke_run
    status = {nb.notebook: nb.status for nb in record.notebooks}
    assert status.get("02_sdxl_synthesis.ipynb") == "ok", status
    frame = pd.read_parquet(paths.synthesis_manifest)
    import json

    from synthvlm_repro.config import load_config

    cfg = load_config("smoke").synthesis
    n_captions = min(cfg.limit, len(json.loads(paths.caption_json.read_text())))
    assert len(frame) == cfg.repeat * n_captions and set(frame["status"]) == {"ok"}
    assert all((paths.root / p).exists() for p in frame["path"])
    assert (paths.figures / "synthesis_samples.png").exists() and (paths.figures / "synthesis_grid.png").exists()
    assert len(pd.read_parquet(paths.synthesis / "grid.parquet")) > 0


class FlakyGenerator(ImageGenerator):
    """The real tiny pipelines, with the second render call failing like a CUDA out-of-memory error."""

    calls = 0

    def render(self, *args, **kwargs):
        FlakyGenerator.calls += 1
        if FlakyGenerator.calls == 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return super().render(*args, **kwargs)


def test_a_failed_batch_is_recorded_and_retried_by_the_next_run(tmp_path, generator):
    ctx = make_ctx(tmp_path / "flaky", n=4)  # 8 images, 2 batches
    flaky = FlakyGenerator(generator.pipe, generator.refiner, generator.settings)
    first = synthesize(ctx, generator=flaky, progress=False)
    frame = pd.read_parquet(ctx.paths.synthesis_manifest)
    assert first.failed == 4 and (frame["status"] == "failed").sum() == 4
    assert "out of memory" in frame.loc[frame["status"] == "failed", "reason"].iloc[0]
    second = synthesize(ctx, generator=flaky, progress=False)
    assert (second.skipped, second.generated) == (4, 4)
    assert set(pd.read_parquet(ctx.paths.synthesis_manifest)["status"]) == {"ok"}


def test_webdataset_shards_hold_the_ok_images(reference):
    import tarfile

    ctx, _ = reference
    wds_ctx = prepare_run("smoke", ctx.paths.root, SMALL + ["synthesis.webdataset=true",
                                                            "synthesis.webdataset_shard_size=5"])
    frame = merge(wds_ctx)
    tars = sorted((ctx.paths.synthesis / "wds").glob("*.tar"))
    assert len(tars) == 3  # 12 images, 5 per shard
    with tarfile.open(tars[0]) as tar:
        names = tar.getnames()
        first = frame.iloc[0]
        key = first["path"].rsplit("/", 1)[1].rsplit(".", 1)[0]
        assert {f"{key}.jpg", f"{key}.txt", f"{key}.json"} <= set(names)
        assert tar.extractfile(f"{key}.jpg").read() == (ctx.paths.root / first["path"]).read_bytes()


def test_cli_documents_every_option_and_merge_reports_missing_work(tmp_path, capsys):
    from synthvlm_repro.cli import build_parser, main

    parser = build_parser()
    synthesis = parser._subparsers._group_actions[0].choices["synthesis"]
    for name, action_parser in synthesis._subparsers._group_actions[0].choices.items():
        for action in action_parser._actions:
            assert action.help, f"synthesis {name}: {action.option_strings} has no help"
    make_ctx(tmp_path / "cli", n=2)
    assert main(["synthesis", "merge", "--run-dir", str(tmp_path / "cli")] + sum([["--set", o] for o in SMALL], [])) == 1
    assert "4 of 4 images not generated yet" in capsys.readouterr().err
