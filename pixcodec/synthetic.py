"""The images people archive besides photos, made from fixed seeds (issue 37): UI mock-ups, a
code editor, rendered text in colour and in gray, charts, pixel art, a photo pasted into a page,
and noise. `pixcodec bench synthetic-v1` measures them next to the classic codecs;
scripts/make_synthetic_set.py writes them as PNG files for other tools.

Text is drawn with Pillow's default font (ImageDraw), so a Pillow with another default font
draws other pixels: figures name the Pillow they were measured with. The "photo" is made, not
shot (the package ships no photograph): blurred shapes over smooth light, with noise.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

NAME = "synthetic-v1"
WIDTH, HEIGHT = 320, 240
_WORDS = ("the of and to in is for on that with as by data image file model code tile page "
          "chart value total lossless pixel colour width height compress archive screen text "
          "window button menu open save print settings help table report figure sum mean "
          "error result version format header stream round trip exact bytes").split()


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(_WORDS, words)).capitalize()


def _paragraphs(draw: ImageDraw.ImageDraw, rng, box, colour, line_height=12) -> None:
    left, top, right, bottom = box
    y = top
    font = _font()
    while y + line_height <= bottom:
        line = _sentence(rng, int(rng.integers(4, 12)))
        while font.getlength(line) > right - left and " " in line:
            line = line.rsplit(" ", 1)[0]
        draw.text((left, y), line, fill=colour, font=font)
        y += line_height + (line_height if rng.random() < 0.12 else 0)


def ui_mockup(rng: np.random.Generator) -> np.ndarray:
    """A settings window: title bar with a gradient, sidebar, buttons, fields, labels."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (236, 238, 242))
    draw = ImageDraw.Draw(image)
    for x in range(WIDTH):  # the title bar's gradient
        draw.line([(x, 0), (x, 21)], fill=(40 + x * 60 // WIDTH, 90 + x * 40 // WIDTH, 200))
    draw.text((8, 5), "Settings - pixcodec", fill=(255, 255, 255), font=_font())
    draw.rectangle([0, 22, 72, HEIGHT], fill=(250, 250, 252), outline=(200, 202, 210))
    for k in range(7):
        y = 30 + 26 * k
        draw.rounded_rectangle([8, y, 22, y + 14], 3, fill=tuple(int(v) for v in
                                                                  rng.integers(60, 220, 3)))
        draw.text((28, y + 2), str(rng.choice(_WORDS)).title(), fill=(50, 50, 60), font=_font())
    for k in range(5):
        y = 34 + 34 * k
        draw.text((86, y), _sentence(rng, 2) + ":", fill=(30, 30, 40), font=_font())
        draw.rectangle([180, y - 3, 306, y + 13], fill=(255, 255, 255), outline=(170, 174, 186))
        draw.text((185, y), str(rng.choice(_WORDS)), fill=(90, 90, 100), font=_font())
    for k, label in enumerate(("Cancel", "Apply", "OK")):
        x = 150 + 54 * k
        fill = (60, 120, 220) if label == "OK" else (220, 222, 228)
        draw.rounded_rectangle([x, HEIGHT - 30, x + 48, HEIGHT - 10], 4, fill=fill,
                               outline=(150, 150, 160))
        draw.text((x + 8, HEIGHT - 26), label, font=_font(),
                  fill=(255, 255, 255) if label == "OK" else (20, 20, 20))
    return np.asarray(image)


def code_editor(rng: np.random.Generator) -> np.ndarray:
    """A dark editor: line numbers, indented code in syntax colours, a selected line."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (30, 32, 40))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 28, HEIGHT], fill=(24, 26, 32))
    colours = [(198, 120, 221), (97, 175, 239), (152, 195, 121), (229, 192, 123),
               (171, 178, 191)]
    selected = int(rng.integers(3, 15))
    for line in range(HEIGHT // 13):
        y = 3 + 13 * line
        if line == selected:
            draw.rectangle([29, y - 1, WIDTH, y + 11], fill=(44, 48, 60))
        draw.text((4, y), f"{line + 1:3d}", fill=(90, 95, 110), font=_font())
        x = 36 + 12 * int(rng.integers(0, 4))
        for _ in range(int(rng.integers(1, 6))):
            word = str(rng.choice(_WORDS)) + str(rng.choice(["(", ".", " =", ",", ":", ""]))
            draw.text((x, y), word, fill=colours[int(rng.integers(len(colours)))], font=_font())
            x += int(_font().getlength(word)) + 5
    return np.asarray(image)


def document(rng: np.random.Generator) -> np.ndarray:
    """A page of text: a heading, paragraphs, a coloured link line, a footer rule."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((16, 10), _sentence(rng, 4).upper(), fill=(20, 40, 120), font=_font())
    draw.line([(16, 24), (WIDTH - 16, 24)], fill=(20, 40, 120))
    _paragraphs(draw, rng, (16, 32, WIDTH - 16, HEIGHT - 30), (25, 25, 25))
    draw.text((16, HEIGHT - 24), "See " + _sentence(rng, 3).lower(), fill=(0, 90, 200),
              font=_font())
    return np.asarray(image)


def gray_document(rng: np.random.Generator) -> np.ndarray:
    """A gray scan-like page: text on a faintly uneven background."""
    image = Image.new("L", (WIDTH, HEIGHT), 246)
    draw = ImageDraw.Draw(image)
    _paragraphs(draw, rng, (12, 12, WIDTH - 12, HEIGHT - 12), 30)
    shade = np.linspace(0, 6, WIDTH).astype(np.uint8)[None, :]
    return (np.asarray(image) - shade)[:, :, None]


def bar_chart(rng: np.random.Generator) -> np.ndarray:
    """Bars in four series over a grid, with axes, labels and a legend."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    left, bottom, top = 40, HEIGHT - 30, 20
    for k in range(6):
        y = bottom - k * (bottom - top) // 5
        draw.line([(left, y), (WIDTH - 10, y)], fill=(225, 225, 225))
        draw.text((6, y - 5), f"{20 * k}", fill=(60, 60, 60), font=_font())
    series = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88)]
    for group in range(6):
        for s, colour in enumerate(series):
            x = left + 8 + group * 45 + s * 9
            height = int(rng.integers(10, bottom - top))
            draw.rectangle([x, bottom - height, x + 7, bottom], fill=colour)
        draw.text((left + 12 + group * 45, bottom + 6), f"Q{group + 1}", fill=(60, 60, 60),
                  font=_font())
    draw.line([(left, top), (left, bottom), (WIDTH - 10, bottom)], fill=(0, 0, 0), width=2)
    for s, colour in enumerate(series):
        draw.rectangle([WIDTH - 60, 8 + 10 * s, WIDTH - 54, 14 + 10 * s], fill=colour)
    return np.asarray(image)


def line_chart(rng: np.random.Generator) -> np.ndarray:
    """Three random walks as lines with markers, on a tinted plot area."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([36, 12, WIDTH - 8, HEIGHT - 24], fill=(238, 242, 250), outline=(80, 80, 80))
    for colour in [(200, 30, 30), (30, 120, 200), (40, 160, 60)]:
        walk = np.cumsum(rng.normal(0, 8, 28)) + rng.uniform(60, 160)
        points = [(40 + 10 * k, int(np.clip(v, 16, HEIGHT - 28))) for k, v in enumerate(walk)]
        draw.line(points, fill=colour, width=2)
        for x, y in points[::3]:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for k in range(0, 28, 5):
        draw.text((36 + 10 * k, HEIGHT - 18), str(2000 + k), fill=(40, 40, 40), font=_font())
    return np.asarray(image)


def pixel_art(rng: np.random.Generator) -> np.ndarray:
    """A tiled background of 8x8 blocks and a few sprites from a 16-colour palette, scaled 4x."""
    palette = rng.integers(0, 256, (16, 3)).astype(np.uint8)
    blocks = rng.integers(0, 3, (2, 8, 8))
    small = np.empty((HEIGHT // 4, WIDTH // 4), dtype=np.int64)
    for y in range(0, small.shape[0], 8):
        for x in range(0, small.shape[1], 8):
            part = blocks[(x // 8 + y // 8) % 2][:small.shape[0] - y, :small.shape[1] - x]
            small[y:y + 8, x:x + 8] = part
    for _ in range(6):
        sprite = rng.integers(3, 16, (6, 3))
        sprite = np.hstack([sprite, sprite[:, ::-1]])  # symmetric, as sprites are
        y, x = rng.integers(0, small.shape[0] - 6), rng.integers(0, small.shape[1] - 6)
        small[y:y + 6, x:x + 6] = sprite
    return np.repeat(np.repeat(palette[small], 4, axis=0), 4, axis=1)


def made_photo(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A made scene: shaded blurred shapes over smooth light at several scales (1/f-like), the
    colour mostly shared by the three channels as in photos, and sensor-like noise."""
    light = np.zeros((height, width))
    for scale in (64, 32, 16, 8):
        coarse = rng.normal(0, scale ** 0.7, (height // scale + 3, width // scale + 3))
        big = Image.fromarray(coarse.astype(np.float32), "F").resize(
            (width + 3 * scale, height + 3 * scale), Image.BICUBIC)
        light += np.asarray(big)[scale:scale + height, scale:scale + width]
    scene = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(60, 200, 3)))
    draw = ImageDraw.Draw(scene)
    for _ in range(7):
        x, y = rng.integers(-20, width), rng.integers(-20, height)
        w, h = rng.integers(20, 90, 2)
        colour = tuple(int(v) for v in rng.integers(30, 230, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x, y, x + w, y + h],
                                                                 fill=colour)
    scene = scene.filter(ImageFilter.GaussianBlur(1.2))
    shade = np.linspace(-20, 20, height)[:, None]
    base = np.asarray(scene, dtype=np.float64) + (light + shade)[:, :, None]
    base += rng.normal(0, 1.6, (height, width, 1)) + rng.normal(0, 0.7, base.shape)
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


def photo_in_page(rng: np.random.Generator) -> np.ndarray:
    """A web page: a header band, text around a photo that takes a third of the page."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, WIDTH, 18], fill=(32, 33, 36))
    draw.text((8, 4), "news  -  " + _sentence(rng, 3), fill=(240, 240, 240), font=_font())
    _paragraphs(draw, rng, (8, 26, 150, HEIGHT - 8), (30, 30, 30))
    image.paste(Image.fromarray(made_photo(rng, 144, 160)), (156, 30))
    draw.text((156, 180), _sentence(rng, 5), fill=(100, 100, 100), font=_font())
    _paragraphs(draw, rng, (156, 196, WIDTH - 6, HEIGHT - 8), (30, 30, 30))
    return np.asarray(image)


def noise(rng: np.random.Generator) -> np.ndarray:
    """Uniform random samples: nothing can code them in fewer bytes than they take."""
    return rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)


# name -> (how it is made, its seed, "RGB" or "L")
IMAGES: dict[str, tuple[Callable[[np.random.Generator], np.ndarray], int, str]] = {
    "ui-mockup": (ui_mockup, 1, "RGB"),
    "code-editor": (code_editor, 2, "RGB"),
    "document": (document, 3, "RGB"),
    "gray-document": (gray_document, 4, "L"),
    "bar-chart": (bar_chart, 5, "RGB"),
    "line-chart": (line_chart, 6, "RGB"),
    "pixel-art": (pixel_art, 7, "RGB"),
    "photo-in-page": (photo_in_page, 8, "RGB"),
    "noise": (noise, 9, "RGB"),
}


def make(name: str) -> tuple[np.ndarray, str]:
    """The image of that name, (H, W, C) uint8, and its mode."""
    maker, seed, mode = IMAGES[name]
    pixels = maker(np.random.default_rng(seed))
    return np.ascontiguousarray(pixels.reshape(*pixels.shape[:2], -1), dtype=np.uint8), mode
