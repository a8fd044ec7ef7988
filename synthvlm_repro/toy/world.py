"""The toy world: one shape of a colour, size and position on a plain background, rendered with PIL.

Every scene has ground-truth attributes, captions from a small grammar, and (for training the toy CLIP
and the attribute judge) an *augmented* rendering with tinted, checkered or noisy backgrounds, so that
those models also read the imperfect images a generator makes. Everything is seeded from the item id.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

SIZE = 32  # pixels
SHAPES = ("circle", "square", "triangle", "diamond")
COLOURS = {"red": (215, 40, 40), "green": (40, 160, 60), "blue": (45, 80, 215),
           "yellow": (230, 200, 30), "purple": (135, 55, 175), "orange": (240, 130, 20)}
SIZES = {"small": 0.16, "large": 0.30}  # radius as a fraction of the image side
POSITIONS = {"left": (0.28, 0.5), "right": (0.72, 0.5), "top": (0.5, 0.28), "bottom": (0.5, 0.72),
             "center": (0.5, 0.5)}
WHERE = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom",
         "center": "in the center"}
BACKGROUNDS = ((245, 245, 245), (225, 225, 225), (240, 232, 215), (220, 232, 240))
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": tuple(SIZES), "position": tuple(POSITIONS)}
TEMPLATES = ("a {size} {colour} {shape} {where}.", "there is a {size} {colour} {shape} {where}.",
             "a picture of a {size} {colour} {shape} {where}.", "{where}, a {size} {colour} {shape}.")


@dataclass(frozen=True)
class Scene:
    """Ground truth of one image."""

    shape: str
    colour: str
    size: str
    position: str
    background: int = 0  # index into BACKGROUNDS

    def attributes(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k in ATTRIBUTES}


def rng_for(item_id: str, salt: str = "") -> random.Random:
    """A ``random.Random`` seeded from the item id (stable across processes and Python versions)."""
    return random.Random(int(hashlib.sha256(f"{salt}:{item_id}".encode()).hexdigest()[:16], 16))


def sample_scene(item_id: str) -> Scene:
    r = rng_for(item_id, "scene")
    return Scene(r.choice(SHAPES), r.choice(tuple(COLOURS)), r.choice(tuple(SIZES)), r.choice(tuple(POSITIONS)),
                 r.randrange(len(BACKGROUNDS)))


def caption(scene: Scene, item_id: str) -> str:
    """One caption of the grammar; it names all four attributes (so a judge can check every one)."""
    text = rng_for(item_id, "caption").choice(TEMPLATES).format(where=WHERE[scene.position], **scene.attributes())
    return text[0].upper() + text[1:]


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption of the grammar names (the inverse of :func:`caption`)."""
    words = text.lower().replace(".", " ").replace(",", " ").split()
    out = {}
    for key, values in (("shape", SHAPES), ("colour", tuple(COLOURS)), ("size", tuple(SIZES))):
        found = [v for v in values if v in words]
        if len(found) == 1:
            out[key] = found[0]
    found = [p for p, phrase in WHERE.items() if phrase in text.lower()]
    if len(found) == 1:
        out["position"] = found[0]
    return out


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        s = r * 0.85
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
    return [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]  # diamond


def _background(item_id: str, scene: Scene, size: int, augment: bool) -> Image.Image:
    if not augment:
        return Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    r = rng_for(item_id, "augment")
    tint = tuple(r.randint(150, 255) for _ in range(3))
    kind = r.choice(("plain", "plain", "checker", "noise"))
    if kind == "plain":
        return Image.new("RGB", (size, size), tint)
    if kind == "checker":
        other = tuple(max(0, c - r.randint(20, 70)) for c in tint)
        cell = r.choice((2, 4, 8))
        yy, xx = np.mgrid[:size, :size]
        mask = ((yy // cell + xx // cell) % 2).astype(bool)
        arr = np.where(mask[..., None], np.array(other, np.uint8), np.array(tint, np.uint8))
        return Image.fromarray(arr.astype(np.uint8))
    noise = np.random.default_rng(r.getrandbits(32)).normal(0, 30, (size, size, 3))
    return Image.fromarray(np.clip(np.array(tint) + noise, 0, 255).astype(np.uint8))


def render(scene: Scene, item_id: str = "", size: int = SIZE, augment: bool = False) -> Image.Image:
    """The scene as an RGB image (drawn at 4x and downsampled, so edges are anti-aliased).

    ``augment``: a random tinted, checkered or noisy background, position jitter, colour shift and pixel
    noise (seeded from ``item_id``), for the models that must also judge imperfect generated images.
    """
    r = rng_for(item_id, "jitter")
    big = size * 4
    canvas = _background(item_id, scene, size, augment).resize((big, big), Image.NEAREST)
    fx, fy = POSITIONS[scene.position]
    jitter = 0.05 if augment else 0.03
    cx, cy = (fx + r.uniform(-jitter, jitter)) * big, (fy + r.uniform(-jitter, jitter)) * big
    radius = SIZES[scene.size] * big * (r.uniform(0.85, 1.15) if augment else r.uniform(0.95, 1.05))
    fill = COLOURS[scene.colour]
    if augment:
        fill = tuple(min(255, max(0, c + r.randint(-25, 25))) for c in fill)
    draw = ImageDraw.Draw(canvas)
    if scene.shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    else:
        draw.polygon(_polygon(scene.shape, cx, cy, radius), fill=fill)
    image = canvas.resize((size, size), Image.BOX)
    if augment and r.random() < 0.5:
        arr = np.asarray(image, dtype=np.float32)
        arr += np.random.default_rng(r.getrandbits(32)).normal(0, r.uniform(3, 15), arr.shape)
        image = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return image


def scene_ids(prefix: str, n: int) -> list[str]:
    """Item ids ``<prefix>-000000`` ...: a split of the world is its prefix."""
    return [f"{prefix}-{i:06d}" for i in range(n)]


def render_batch(ids: list[str], augment: bool = False, size: int = SIZE) -> tuple[np.ndarray, list[Scene]]:
    """``(uint8 [N, H, W, 3], scenes)`` for item ids."""
    scenes = [sample_scene(i) for i in ids]
    arrays = np.stack([np.asarray(render(s, i, size, augment)) for s, i in zip(scenes, ids)])
    return arrays, scenes


def training_pool(prefix: str, n: int, progress: bool = True) -> tuple[np.ndarray, list[str], list[Scene]]:
    """``n`` augmented renders to draw training batches from (rendering each batch afresh costs more than
    the small models' steps)."""
    from tqdm.auto import tqdm

    ids = scene_ids(prefix, n)
    scenes = [sample_scene(i) for i in ids]
    images = np.stack([np.asarray(render(s, i, augment=True))
                       for s, i in tqdm(list(zip(scenes, ids)), desc=f"renders ({prefix})", disable=not progress)])
    return images, ids, scenes


def attribute_index(scene: Scene) -> list[int]:
    """Class indices of the scene's attributes, in :data:`ATTRIBUTES` order."""
    return [ATTRIBUTES[k].index(v) for k, v in scene.attributes().items()]


# --------------------------------------------------------------------------- junk captions for stage 01

def junk_caption(item_id: str, other: str) -> tuple[str, str]:
    """``(kind, caption)``: a caption stage 01 should drop; ``other`` is a real caption to garble."""
    r = rng_for(item_id, "junk")
    kind = r.choice(("symbols", "repeated", "shuffled", "mismatched", "duplicate"))
    if kind == "symbols":
        return kind, "".join(r.choice("#$%&*@!?~^") for _ in range(r.randint(12, 30)))
    if kind == "repeated":
        return kind, " ".join([r.choice(tuple(COLOURS))] * r.randint(12, 20))
    if kind == "shuffled":
        words = other.rstrip(".").lower().split()
        r.shuffle(words)
        return kind, " ".join(words) + " the the of"
    return kind, other  # mismatched (stands beside another scene's image) or an exact duplicate
