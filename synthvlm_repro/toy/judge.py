"""The attribute judge: a small CNN that reads shape, colour, size and position off an image.

It decides whether a generated image matches its caption (selection precision), independently of the
CLIP that selected it. Trained on augmented renders (tinted/checkered/noisy backgrounds, jitter,
colour shift, pixel noise): trained on clean renders only it misjudges generated images. Saved as
``judge.safetensors`` + ``config.json``; a plain torch module, since no stage loads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import trange

from synthvlm_repro.toy.world import ATTRIBUTES, attribute_index, training_pool


class AttributeJudge(nn.Module):
    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.GELU(), nn.Conv2d(w, w, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.GELU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.heads = nn.ModuleDict({k: nn.Linear(2 * w * 16, len(v)) for k, v in ATTRIBUTES.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x)
        return {k: head(h) for k, head in self.heads.items()}


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def train_judge(spec: dict, steps: int | None = None, progress: bool = True) -> AttributeJudge:
    torch.manual_seed(0)
    model = AttributeJudge(spec["width"])
    steps = steps or spec["steps"]
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss()
    pool, _, scenes = training_pool("judge", spec["pool"], progress)
    truth = torch.tensor([attribute_index(s) for s in scenes])
    gen = torch.Generator().manual_seed(0)
    for _ in trange(steps, desc="toy judge", disable=not progress):
        pick = torch.randint(len(pool), (spec["batch"],), generator=gen)
        logits = model(to_tensor(pool[pick.numpy()]))
        loss = sum(loss_fn(logits[k], truth[pick, j]) for j, k in enumerate(ATTRIBUTES))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def build_judge(out: Path, spec: dict) -> None:
    from safetensors.torch import save_file

    model = train_judge(spec)
    save_file(model.state_dict(), out / "judge.safetensors")
    (out / "config.json").write_text(json.dumps({"width": spec["width"], "attributes": ATTRIBUTES}))


def load_judge(path: str | Path) -> AttributeJudge:
    from safetensors.torch import load_file

    path = Path(path)
    model = AttributeJudge(json.loads((path / "config.json").read_text())["width"])
    model.load_state_dict(load_file(path / "judge.safetensors"))
    return model.eval()


@torch.inference_mode()
def judge_images(model: AttributeJudge, images: np.ndarray, batch: int = 256) -> list[dict[str, str]]:
    """Predicted attributes of uint8 ``[N, 32, 32, 3]`` images."""
    out = []
    for i in range(0, len(images), batch):
        logits = model(to_tensor(images[i:i + batch]))
        picks = {k: v.argmax(-1).tolist() for k, v in logits.items()}
        out += [{k: ATTRIBUTES[k][picks[k][j]] for k in ATTRIBUTES} for j in range(len(picks["shape"]))]
    return out
