"""``selection.decode: gpu``'s tensor path (torchvision decode + tensor resizes), run on the CPU: the same
CLIPScore and SSIM as the PIL path within 1e-3 on the same JPEGs, and a clear error without CUDA."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from synthvlm_repro.config import load_config
from synthvlm_repro.selection.gpu_decode import decoded_batches, luma, round_trip_pair
from synthvlm_repro.selection.scorer import build_scorers
from synthvlm_repro.selection.scoring import read_manifest, score_batch, score_rows
from synthvlm_repro.selection.ssim import round_trip_pair as pil_round_trip_pair

SIZES = [(512, 512), (512, 512), (640, 480), (300, 420), (512, 512)]


def photo_like(seed: int, size: tuple[int, int]) -> Image.Image:
    """Smooth gradients, edges and noise: JPEG- and resize-sensitive content."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(x / (7 + seed) + c) * np.cos(y / (11 + c)) for c in range(3)], -1)
    img[(x // 40 + y // 40) % 2 == 0] *= 0.6
    img += rng.normal(0, 6 + 4 * seed, img.shape)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("decode")
    rows = []
    for k, size in enumerate(SIZES):
        rel = f"img/{k}.jpg" if k < len(SIZES) - 1 else f"img/{k}.png"  # one PNG: decoded on the CPU
        (root / "img").mkdir(exist_ok=True)
        photo_like(k, size).save(root / rel, quality=90)
        rows.append(dict(caption_id=f"c{k}", candidate=0, caption=f"a patterned picture number {k}", path=rel,
                         status="ok"))
    (root / "img/bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9")
    rows.append(dict(caption_id="bad", candidate=0, caption="corrupt", path="img/bad.jpg", status="ok"))
    pd.DataFrame(rows).to_parquet(root / "manifest.parquet")
    return root


@pytest.fixture(scope="module")
def scorer(tiny):
    from synthvlm_repro.selection.clipscore import ClipScorer

    return ClipScorer("tiny:open-clip", None, "cpu", "fp32")


def paper_geometry(**extra):
    return load_config("smoke", ["selection.ssim_size=768", "selection.ssim_low_size=336",
                                 "selection.batch_size=4", *[f"selection.{k}={v}" for k, v in extra.items()]]).selection


def pil_scores(run_dir, cfg, scorer, name):
    rows = read_manifest(run_dir / "manifest.parquet")
    score_rows(rows, run_dir, cfg, "cpu", run_dir / name, clip_model=scorer, progress=False)
    df = pd.concat(pd.read_parquet(p) for p in sorted((run_dir / name).glob("*/*.parquet")))
    return df.set_index("caption_id")


def tensor_path_scores(run_dir, cfg, scorer):
    """The GPU-decode batches (each scorer's ``prepare_batch``) scored on the CPU."""
    rows = read_manifest(run_dir / "manifest.parquet")
    paths = [run_dir / p for p in rows["path"]]
    scorers = build_scorers(cfg, "cpu", clip_score=scorer)
    for s in scorers:
        s.begin(list(rows["caption"]))
    out, failed = {}, {}
    for batch in decoded_batches(paths, scorers, cfg, "cpu", workers=0):
        failed.update({rows.caption_id[d.index]: d.status for d in batch["failed"]})
        if batch["index"]:
            values = score_batch(scorers, batch["inputs"], batch["index"])
            out.update({rows.caption_id[i]: (float(values["clip_score"][k]), float(values["ssim"][k]))
                        for k, i in enumerate(batch["index"])})
    return out, failed


def test_tensor_decode_path_matches_the_pil_path_within_1e_3(run_dir, scorer):
    cfg = paper_geometry(ssim_backend="skimage")
    reference = pil_scores(run_dir, cfg, scorer, "pil")
    torch_ssim = pil_scores(run_dir, paper_geometry(ssim_backend="torch"), scorer, "pil-torch")
    fast, failed = tensor_path_scores(run_dir, cfg, scorer)
    assert failed == {"bad": "corrupt"} and reference.loc["bad", "status"] == "corrupt"
    assert set(fast) == {f"c{k}" for k in range(len(SIZES))}
    d_clip = max(abs(fast[c][0] - reference.loc[c, "clip_score"]) for c in fast)
    d_ssim = max(abs(fast[c][1] - reference.loc[c, "ssim"]) for c in fast)
    d_ssim_torch = max(abs(fast[c][1] - torch_ssim.loc[c, "ssim"]) for c in fast)
    print(f"tensor decode path vs PIL path: max |dCLIPScore| {d_clip:.2e}, max |dSSIM| {d_ssim:.2e} "
          f"(vs torch SSIM on PIL pairs {d_ssim_torch:.2e})")
    assert d_clip < 1e-3 and d_ssim < 1e-3 and d_ssim_torch < 1e-3


def test_round_trip_and_luma_follow_pil():
    image = photo_like(3, (400, 300))
    a_pil, b_pil = pil_round_trip_pair(image, 768, 336)
    tensor = torch.from_numpy(np.asarray(image)).permute(2, 0, 1)[None]
    a, b = round_trip_pair(tensor, 768, 336)
    assert a.shape == (1, 768, 768) and b.dtype == torch.uint8
    assert np.abs(a[0].numpy().astype(int) - a_pil).max() <= 2
    assert np.abs(b[0].numpy().astype(int) - b_pil).max() <= 2
    assert np.array_equal(luma(tensor)[0].numpy(), np.asarray(image.convert("L")))  # exact PIL 'L'


def test_gpu_decode_without_cuda_is_a_one_line_error(run_dir, scorer):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rows = read_manifest(run_dir / "manifest.parquet")
    with pytest.raises(ValueError, match="selection.decode=gpu needs a CUDA device") as e:
        score_rows(rows, run_dir, paper_geometry(decode="gpu"), "cpu", run_dir / "gpu", clip_model=scorer, progress=False)
    assert "\n" not in str(e.value)
