"""``selection.decode: gpu``: JPEGs decoded on the scoring GPU (nvJPEG, batched), preprocessed there.

The CPU path (scoring.py) decodes with PIL in DataLoader workers; at 1024² that decode is most of a
pair's CPU cost, so 16 cores cannot keep an H200 busy. Here workers only read file bytes;
``torchvision.io.decode_jpeg`` decodes a whole batch on the device, and each scorer makes its input there
(``Scorer.prepare_batch``: the CLIP input and the SSIM round-trip pair with torchvision's tensor resizes,
antialiased, as PIL's). Those resizes
are not bit-identical to PIL's, so the scores differ slightly from the CPU path; the tests and
``bench/scoring_bench.py --decode`` measure by how much (the option is only useful within 1e-3).

Batches have the same form as :func:`synthvlm_repro.selection.scoring.regroup`'s, so the scoring loop
is shared. Files that are not JPEGs are decoded by ``torchvision.io.decode_image`` on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"


def check_decode_device(decode: str, device: str) -> None:
    """``gpu`` decoding needs a CUDA scoring device: a one-line error otherwise."""
    if decode == "gpu" and not (str(device).startswith("cuda") and torch.cuda.is_available()):
        raise ValueError(f"selection.decode=gpu needs a CUDA device (scoring runs on {device!r}); "
                         "use selection.decode=cpu")


class EncodedFiles(torch.utils.data.Dataset):
    """Row ``i`` → ``(i, file bytes as a uint8 tensor | None, status, error)``: only I/O in the workers."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        path = self.paths[i]
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            return i, None, "missing", f"file not found: {path}"
        except OSError as e:
            return i, None, "corrupt", f"{type(e).__name__}: {e}"
        if data[:2] == JPEG_START and JPEG_END not in data[-64:]:
            return i, None, "truncated", "truncated JPEG: no end-of-image marker"
        return i, torch.frombuffer(bytearray(data), dtype=torch.uint8), "ok", ""


class TensorPreprocess:
    """open_clip's PIL preprocessing (Resize shortest side, CenterCrop, ToTensor, Normalize) on uint8
    ``(N, 3, H, W)`` tensors; any other transform in the pipeline is a one-line error."""

    def __init__(self, preprocess):
        from torchvision.transforms import CenterCrop, Normalize, Resize

        self.resize = self.crop = self.mean = self.std = None
        for t in getattr(preprocess, "transforms", [preprocess]):
            name = type(t).__name__
            if isinstance(t, Resize):
                self.resize, self.interpolation = t.size, t.interpolation
            elif isinstance(t, CenterCrop):
                self.crop = list(t.size)
            elif isinstance(t, Normalize):
                self.mean, self.std = torch.tensor(t.mean), torch.tensor(t.std)
            elif name not in ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "function", "_convert_to_rgb"):
                raise ValueError(f"selection.decode=gpu: the CLIP preprocessing step {name} has no tensor version; "
                                 "use selection.decode=cpu")
        if self.resize is None or self.crop is None or self.mean is None:
            raise ValueError("selection.decode=gpu: CLIP preprocessing without Resize/CenterCrop/Normalize")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
        x = F.center_crop(F.resize(images, size, self.interpolation, antialias=True), self.crop)
        mean, std = self.mean.to(x.device)[:, None, None], self.std.to(x.device)[:, None, None]
        return (x.float() / 255 - mean) / std


def luma(images: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert("L")`` of uint8 RGB ``(N, 3, H, W)``: ITU-R 601 weights in PIL's 16-bit fixed point."""
    x = images.to(torch.int32)
    return ((x[:, 0] * 19595 + x[:, 1] * 38470 + x[:, 2] * 7471 + 0x8000) >> 16).to(torch.uint8)


def round_trip_pair(images: torch.Tensor, size: int, low_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensor version of :func:`synthvlm_repro.selection.ssim.round_trip_pair` (bilinear, antialiased)."""
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    bilinear = InterpolationMode.BILINEAR
    a = F.resize(images, [size, size], bilinear, antialias=True)
    b = F.resize(F.resize(a, [low_size, low_size], bilinear, antialias=True), [size, size], bilinear, antialias=True)
    return luma(a), luma(b)


def decode(items: list, device: str) -> tuple[list, list]:
    """``(decoded [(i, uint8 CHW on device)], failed [(i, status, error)])`` of a list of EncodedFiles rows."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    failed = [(i, status, error) for i, data, status, error in items if status != "ok"]
    ok = [(i, data) for i, data, status, _ in items if status == "ok"]
    jpegs = [(i, d) for i, d in ok if bytes(d[:2].tolist()) == JPEG_START]
    others = [(i, d) for i, d in ok if bytes(d[:2].tolist()) != JPEG_START]
    decoded = []
    if jpegs:
        try:
            images = decode_jpeg([d for _, d in jpegs], mode=ImageReadMode.RGB, device=device)
            decoded += [(i, im) for (i, _), im in zip(jpegs, images)]
        except RuntimeError:  # one bad file fails the whole batch: decode one by one to find it
            others = jpegs + others
    for i, data in others:
        try:
            decoded.append((i, decode_image(data, mode=ImageReadMode.RGB).to(device)))
        except RuntimeError as e:
            failed.append((i, "corrupt", f"not a readable image: {str(e).splitlines()[0]}"))
    return decoded, failed


def _near_constant(image, max_std: float) -> bool:
    """:func:`synthvlm_repro.image_checks.is_near_constant` for a uint8 CHW tensor on any device."""
    return bool(image.flatten(1).float().std(dim=1, correction=0).max() <= max_std)


def decoded_batches(paths: list[Path], scorers, cfg, device: str, workers: int):
    """Model batches ``{index, failed, inputs: {scorer name: batch}}`` of ``cfg.batch_size`` images decoded
    on ``device``; each scorer's input made by its ``prepare_batch``."""
    from torch.utils.data import DataLoader

    from synthvlm_repro.selection.scoring import Decoded

    loader = DataLoader(EncodedFiles(paths), batch_size=cfg.batch_size, num_workers=workers, collate_fn=list,
                        prefetch_factor=4 if workers else None)
    for items in loader:
        decoded, failed = decode(items, device)
        if cfg.blank_max_std is not None:  # as PairImages: near-constant images are 'blank', never scored
            blank = [(i, im) for i, im in decoded if _near_constant(im, cfg.blank_max_std)]
            failed += [(i, "blank", f"near-constant image (pixel std <= {cfg.blank_max_std:g} in every channel): "
                        "no content to score") for i, _ in blank]
            decoded = [(i, im) for i, im in decoded if not _near_constant(im, cfg.blank_max_std)]
        decoded.sort(key=lambda x: x[0])
        index, inputs = [], {s.name: [] for s in scorers}
        by_shape: dict[tuple, list] = {}
        for i, image in decoded:
            by_shape.setdefault(tuple(image.shape), []).append((i, image))
        for group in by_shape.values():  # equal sizes (the usual case) are resized as one stack
            stack = torch.stack([im for _, im in group])
            index += [i for i, _ in group]
            for scorer in scorers:
                inputs[scorer.name].append(scorer.prepare_batch(stack))
        yield {"index": index, "failed": [Decoded(i, status=s, error=e) for i, s, e in failed],
               "inputs": {name: torch.cat(parts) for name, parts in inputs.items() if parts}}
