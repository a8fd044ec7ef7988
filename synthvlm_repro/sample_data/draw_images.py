"""Deterministically draw the small sample images referenced by captions.json.

Only plain PIL primitives are used (no fonts, no randomness), so the output is
the same on every run.  Run ``python -m synthvlm_repro.sample_data.draw_images``
to (re)write the PNGs into ``synthvlm_repro/sample_data/images/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image, ImageDraw

SIZE = 128
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
RED, BLUE, GREEN = (220, 30, 30), (30, 60, 220), (40, 170, 60)
YELLOW, ORANGE, PURPLE = (250, 215, 30), (245, 140, 20), (140, 50, 170)
SKY, GRASS, GRAY = (135, 200, 245), (70, 160, 60), (128, 128, 128)
BROWN, NAVY, PINK = (120, 75, 40), (15, 25, 70), (250, 190, 205)

Painter = Callable[[ImageDraw.ImageDraw], None]


def _canvas(bg: tuple[int, int, int]) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (SIZE, SIZE), bg)
    return img, ImageDraw.Draw(img)


def _sky_and_ground(d: ImageDraw.ImageDraw, horizon: int, ground=GRASS) -> None:
    d.rectangle([0, horizon, SIZE, SIZE], fill=ground)


def sun_over_field(d):
    _sky_and_ground(d, 84)
    d.ellipse([78, 14, 110, 46], fill=YELLOW)


def red_car(d):
    d.rectangle([0, 96, SIZE, SIZE], fill=GRAY)
    d.rectangle([14, 62, 114, 88], fill=RED)
    d.polygon([(34, 62), (46, 42), (84, 42), (96, 62)], fill=RED)
    d.rectangle([50, 47, 80, 60], fill=SKY)
    for x in (38, 90):
        d.ellipse([x - 11, 78, x + 11, 100], fill=BLACK)


def house(d):
    _sky_and_ground(d, 100)
    d.rectangle([30, 58, 98, 100], fill=BROWN)
    d.polygon([(22, 60), (64, 22), (106, 60)], fill=RED)
    d.rectangle([56, 74, 72, 100], fill=YELLOW)


def red_white_stripes(d):
    for i in range(8):
        if i % 2 == 0:
            d.rectangle([i * 16, 0, i * 16 + 15, SIZE], fill=RED)


def smiley_face(d):
    d.ellipse([14, 14, 114, 114], fill=YELLOW, outline=BLACK, width=3)
    d.ellipse([42, 40, 54, 56], fill=BLACK)
    d.ellipse([74, 40, 86, 56], fill=BLACK)
    d.arc([36, 50, 92, 96], start=20, end=160, fill=BLACK, width=4)


def stop_sign(d):
    c, r, k = 64, 56, 23  # centre, half-width, corner cut
    d.polygon([(c - r + k, c - r), (c + r - k, c - r), (c + r, c - r + k),
               (c + r, c + r - k), (c + r - k, c + r), (c - r + k, c + r),
               (c - r, c + r - k), (c - r, c - r + k)], fill=RED)
    y0, y1, w = 52, 76, 4  # block letters S, T, O, P
    s = [(26, y0, 40, y0 + w), (26, y0, 26 + w, 64), (26, 62, 40, 62 + w),
         (40 - w, 62, 40, y1), (26, y1 - w, 40, y1)]
    t = [(44, y0, 58, y0 + w), (49, y0, 49 + w, y1)]
    o = [(62, y0, 76, y0 + w), (62, y1 - w, 76, y1), (62, y0, 62 + w, y1),
         (76 - w, y0, 76, y1)]
    p = [(80, y0, 80 + w, y1), (80, y0, 94, y0 + w), (80, 62, 94, 62 + w),
         (94 - w, y0, 94, 66)]
    for box in s + t + o + p:
        d.rectangle(box, fill=WHITE)


def circle_and_square(d):
    d.ellipse([12, 36, 60, 84], fill=RED)
    d.rectangle([72, 38, 116, 82], fill=BLUE)


def checkerboard(d):
    for row in range(8):
        for col in range(8):
            if (row + col) % 2:
                d.rectangle([col * 16, row * 16, col * 16 + 15, row * 16 + 15], fill=BLACK)


def tree(d):
    d.rectangle([56, 70, 72, 116], fill=BROWN)
    d.ellipse([28, 14, 100, 86], fill=GREEN)


def moon_and_stars(d):
    d.ellipse([70, 16, 110, 56], fill=WHITE)
    d.ellipse([60, 10, 100, 50], fill=NAVY)
    for x, y in [(20, 24), (44, 70), (16, 100), (90, 92), (62, 112), (108, 70)]:
        d.rectangle([x - 1, y - 1, x + 1, y + 1], fill=WHITE)


def traffic_light(d):
    d.rectangle([42, 8, 86, 120], fill=BLACK)
    for y, colour in [(14, RED), (50, YELLOW), (86, GREEN)]:
        d.ellipse([50, y, 78, y + 28], fill=colour)


def sailboat(d):
    _sky_and_ground(d, 84, ground=BLUE)
    d.polygon([(36, 84), (96, 84), (86, 98), (46, 98)], fill=BROWN)
    d.line([(64, 24), (64, 84)], fill=BLACK, width=2)
    d.polygon([(66, 26), (66, 80), (100, 80)], fill=WHITE)


def three_green_circles(d):
    for x in (24, 64, 104):
        d.ellipse([x - 16, 48, x + 16, 80], fill=GREEN)


def horizontal_rainbow(d):
    for i, colour in enumerate([RED, ORANGE, YELLOW, GREEN, BLUE, PURPLE]):
        d.rectangle([0, i * 22, SIZE, i * 22 + 21], fill=colour)


def snowman(d):
    _sky_and_ground(d, 108, ground=WHITE)
    for box in ([34, 70, 94, 122], [42, 38, 86, 78], [48, 12, 80, 44]):
        d.ellipse(box, fill=WHITE, outline=GRAY)
    d.polygon([(64, 27), (64, 31), (78, 29)], fill=ORANGE)
    d.rectangle([56, 22, 59, 25], fill=BLACK)
    d.rectangle([68, 22, 71, 25], fill=BLACK)


def mountains(d):
    d.polygon([(0, 112), (44, 36), (88, 112)], fill=GRAY)
    d.polygon([(44, 36), (32, 57), (56, 57)], fill=WHITE)
    d.polygon([(48, 112), (92, 28), (128, 100), (128, 112)], fill=GRAY)
    d.polygon([(92, 28), (80, 51), (104, 51)], fill=WHITE)
    d.rectangle([0, 112, SIZE, SIZE], fill=GREEN)


def green_triangle(d):
    d.polygon([(64, 20), (112, 108), (16, 108)], fill=GREEN)


def bullseye(d):
    for i, r in enumerate(range(60, 0, -12)):
        d.ellipse([64 - r, 64 - r, 64 + r, 64 + r], fill=RED if i % 2 == 0 else WHITE)


def red_heart(d):
    d.ellipse([22, 26, 68, 72], fill=RED)
    d.ellipse([60, 26, 106, 72], fill=RED)
    d.polygon([(24, 58), (104, 58), (64, 108)], fill=RED)


def purple_diamond(d):
    d.polygon([(64, 12), (112, 64), (64, 116), (16, 64)], fill=PURPLE)


# name -> (background colour, painter); names become <name>.png
IMAGES: dict[str, tuple[tuple[int, int, int], Painter]] = {
    "sun_over_field": (SKY, sun_over_field),
    "red_car": (WHITE, red_car),
    "house": (SKY, house),
    "red_white_stripes": (WHITE, red_white_stripes),
    "smiley_face": (WHITE, smiley_face),
    "stop_sign": (WHITE, stop_sign),
    "circle_and_square": (WHITE, circle_and_square),
    "checkerboard": (WHITE, checkerboard),
    "tree": (WHITE, tree),
    "moon_and_stars": (NAVY, moon_and_stars),
    "traffic_light": (GRAY, traffic_light),
    "sailboat": (SKY, sailboat),
    "three_green_circles": (BLACK, three_green_circles),
    "horizontal_rainbow": (WHITE, horizontal_rainbow),
    "snowman": (SKY, snowman),
    "mountains": (SKY, mountains),
    "green_triangle": (YELLOW, green_triangle),
    "bullseye": (WHITE, bullseye),
    "red_heart": (PINK, red_heart),
    "purple_diamond": (GRAY, purple_diamond),
}


def draw_image(name: str) -> Image.Image:
    """Return the named sample image as a fresh RGB ``PIL.Image``."""
    bg, paint = IMAGES[name]
    img, d = _canvas(bg)
    paint(d)
    return img


def draw_all(out_dir: str | Path) -> list[Path]:
    """Draw every sample image into ``out_dir`` as ``<name>.png``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in IMAGES:
        path = out / f"{name}.png"
        draw_image(name).save(path, format="PNG", optimize=True)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in draw_all(Path(__file__).resolve().parent / "images"):
        print(p)
