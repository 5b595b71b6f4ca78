"""Draw the PNG icons of the Slicer modules, the extension icon and the screenshot placeholder.

Each module gets its own glyph on a 128x128 rounded tile (drawn 4x larger, then downsampled so the
edges are smooth):

* MRITriage - an axial brain with a red warning badge (triage of critical findings);
* CMBDetect - a dark SWI brain with black dots, two of them ringed in yellow (detections);
* LGECertainty - a short-axis heart ring with a bright enhancement arc and a 0-100 gauge;
* BodyRegion - a body silhouette in colour bands from head to feet;
* CaseReview - a stack of case cards, the top one an image tile with a green check and a progress bar.

The extension icon and the screenshot show the four task modules.

Usage: ``python scripts/make_icons.py [--root REPO]``. The output is deterministic, so the committed
icons can be checked against a fresh run.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

logger = logging.getLogger(__name__)

ICON_SIZE = 128
SCALE = 4
CANVAS = ICON_SIZE * SCALE
MODULES = ("MRITriage", "CMBDetect", "LGECertainty", "BodyRegion")
REVIEW_MODULES = ("CaseReview",)
ICON_MODULES = (*MODULES, *REVIEW_MODULES)
REPO_ROOT = Path(__file__).resolve().parents[1]


def _tile(background: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A transparent canvas with a rounded, filled tile."""
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    margin = 4 * SCALE
    draw.rounded_rectangle((margin, margin, CANVAS - margin, CANVAS - margin), radius=22 * SCALE, fill=background)
    return image, draw


def _s(*values: float) -> tuple[int, ...]:
    """Icon coordinates (0-128) to canvas pixels."""
    return tuple(round(v * SCALE) for v in values)


def _brain_outline(draw: ImageDraw.ImageDraw, fill: str, outline: str, box: tuple[float, ...]) -> None:
    """An axial brain: ellipse, midline fissure and a few gyri arcs."""
    x0, y0, x1, y1 = box
    draw.ellipse(_s(x0, y0, x1, y1), fill=fill, outline=outline, width=3 * SCALE)
    cx = (x0 + x1) / 2
    draw.line(_s(cx, y0 + 2, cx, y1 - 2), fill=outline, width=3 * SCALE)
    w, h = x1 - x0, y1 - y0
    for side in (-1, 1):
        for frac_y, frac_r, start in ((0.28, 0.16, 200), (0.52, 0.20, 160), (0.76, 0.15, 200)):
            r = frac_r * w
            gx = cx + side * 0.22 * w
            gy = y0 + frac_y * h
            arc_start, arc_end = (start, start + 140) if side < 0 else (360 - start - 140, 360 - start)
            draw.arc(_s(gx - r, gy - r / 1.6, gx + r, gy + r / 1.6), arc_start, arc_end, fill=outline, width=2 * SCALE)


def draw_mritriage() -> Image.Image:
    """Brain with a red warning triangle."""
    image, draw = _tile("#1f4e79")
    _brain_outline(draw, fill="#d9dee6", outline="#4a5a70", box=(18, 14, 100, 108))
    draw.polygon([_s(94, 74), _s(120, 118), _s(68, 118)], fill="#e53935", outline="#ffffff")
    draw.rounded_rectangle(_s(91.5, 86, 96.5, 105), radius=2 * SCALE, fill="#ffffff")
    draw.ellipse(_s(91.5, 108, 96.5, 113), fill="#ffffff")
    return image


def draw_cmbdetect() -> Image.Image:
    """Dark SWI brain with microbleeds, two of them detected (yellow rings)."""
    image, draw = _tile("#263238")
    draw.ellipse(_s(16, 12, 112, 116), fill="#8d9499", outline="#c7cdd1", width=3 * SCALE)
    for x, y, r in ((40, 40, 4), (82, 36, 3.5), (58, 78, 4.5), (88, 84, 3), (36, 90, 3)):
        draw.ellipse(_s(x - r, y - r, x + r, y + r), fill="#111111")
    for x, y in ((58, 78), (82, 36)):
        draw.ellipse(_s(x - 11, y - 11, x + 11, y + 11), outline="#ffd600", width=3 * SCALE)
    return image


def draw_lgecertainty() -> Image.Image:
    """Short-axis left ventricle with an enhancing segment, and a likelihood gauge."""
    image, draw = _tile("#4a1c2c")
    cx, cy = 64, 56
    draw.ellipse(_s(cx - 40, cy - 40, cx + 40, cy + 40), fill="#3b3b3b")
    draw.ellipse(_s(cx - 24, cy - 24, cx + 24, cy + 24), fill="#bdbdbd")
    draw.arc(_s(cx - 33, cy - 33, cx + 33, cy + 33), 300, 20, fill="#ffffff", width=15 * SCALE)
    draw.rounded_rectangle(_s(18, 104, 110, 112), radius=4 * SCALE, fill="#ffffff")
    draw.rounded_rectangle(_s(18, 104, 56, 112), radius=4 * SCALE, fill="#43a047")
    draw.rectangle(_s(48, 104, 80, 112), fill="#fbc02d")
    draw.rounded_rectangle(_s(80, 104, 110, 112), radius=4 * SCALE, fill="#e53935")
    draw.polygon([_s(66, 102), _s(60, 94), _s(72, 94)], fill="#ffffff")
    return image


def draw_bodyregion() -> Image.Image:
    """Body silhouette filled with colour bands, head to feet."""
    image, _draw = _tile("#00695c")
    bands = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    band_draw = ImageDraw.Draw(bands)
    for top, bottom, colour in (
        (0, 30, "#ef5350"),
        (30, 54, "#ffa726"),
        (54, 72, "#ffee58"),
        (72, 86, "#66bb6a"),
        (86, 128, "#42a5f5"),
    ):
        band_draw.rectangle(_s(0, top, 128, bottom), fill=colour)
    mask = Image.new("L", (CANVAS, CANVAS), 0)
    body = ImageDraw.Draw(mask)
    body.ellipse(_s(54, 10, 74, 30), fill=255)
    body.rounded_rectangle(_s(46, 32, 82, 84), radius=8 * SCALE, fill=255)
    body.rounded_rectangle(_s(34, 34, 44, 80), radius=5 * SCALE, fill=255)
    body.rounded_rectangle(_s(84, 34, 94, 80), radius=5 * SCALE, fill=255)
    body.rounded_rectangle(_s(48, 80, 62, 120), radius=5 * SCALE, fill=255)
    body.rounded_rectangle(_s(66, 80, 80, 120), radius=5 * SCALE, fill=255)
    image.paste(bands, (0, 0), mask)
    return image


def draw_casereview() -> Image.Image:
    """A stack of case cards; the top one shows a slice with a green check mark, and a reading progress bar."""
    image, draw = _tile("#37474f")
    for offset, colour in ((12, "#78909c"), (6, "#b0bec5")):
        draw.rounded_rectangle(
            _s(26 + offset, 14 - offset / 2, 106 + offset / 2, 86 - offset / 2), radius=6 * SCALE, fill=colour
        )
    draw.rounded_rectangle(_s(20, 20, 100, 92), radius=6 * SCALE, fill="#eceff1", outline="#263238", width=2 * SCALE)
    draw.ellipse(_s(32, 30, 74, 82), fill="#9e9e9e", outline="#616161", width=2 * SCALE)
    draw.line([_s(62, 62), _s(74, 76), _s(96, 44)], fill="#43a047", width=8 * SCALE, joint="curve")
    draw.rounded_rectangle(_s(18, 102, 110, 112), radius=4 * SCALE, fill="#cfd8dc")
    draw.rounded_rectangle(_s(18, 102, 78, 112), radius=4 * SCALE, fill="#29b6f6")
    return image


GLYPHS: dict[str, Callable[[], Image.Image]] = {
    "MRITriage": draw_mritriage,
    "CMBDetect": draw_cmbdetect,
    "LGECertainty": draw_lgecertainty,
    "BodyRegion": draw_bodyregion,
    "CaseReview": draw_casereview,
}


def module_icon(module: str) -> Image.Image:
    """The 128x128 RGBA icon of ``module``."""
    return GLYPHS[module]().resize((ICON_SIZE, ICON_SIZE), Image.Resampling.LANCZOS)


def extension_icon() -> Image.Image:
    """The extension's 128x128 icon: the four module glyphs on a 2x2 grid."""
    icon = Image.new("RGBA", (ICON_SIZE, ICON_SIZE), (0, 0, 0, 0))
    half = ICON_SIZE // 2
    for index, module in enumerate(MODULES):
        glyph = GLYPHS[module]().resize((half, half), Image.Resampling.LANCZOS)
        icon.paste(glyph, ((index % 2) * half, (index // 2) * half), glyph)
    return icon


def screenshot_placeholder() -> Image.Image:
    """A 640x400 placeholder for the extension's screenshot URL until a real Slicer screenshot is taken."""
    shot = Image.new("RGB", (640, 400), "#202124")
    for index, module in enumerate(MODULES):
        glyph = module_icon(module)
        shot.paste(glyph, (40 + index * 150, 110), glyph)
    draw = ImageDraw.Draw(shot)
    font = ImageFont.load_default(size=20)
    draw.text((40, 40), "SlicerRadTriage - screenshot placeholder", fill="#ffffff", font=font)
    for index, module in enumerate(MODULES):
        draw.text((40 + index * 150, 250), module, fill="#e0e0e0", font=font)
    draw.text((40, 330), "demo models: demo, not for clinical use", fill="#ffab91", font=font)
    return shot


def output_paths(root: Path) -> dict[str, Path]:
    """Where each drawing goes under the repository ``root``."""
    paths = {module: root / module / "Resources" / "Icons" / f"{module}.png" for module in ICON_MODULES}
    paths["extension"] = root / "Resources" / "Icons" / "RadTriage.png"
    paths["screenshot"] = root / "Resources" / "Screenshots" / "RadTriage-1.png"
    return paths


def write_all(root: Path) -> dict[str, Path]:
    """Draw every icon and the screenshot placeholder under ``root``; returns the written paths."""
    paths = output_paths(root)
    drawings = {module: module_icon(module) for module in ICON_MODULES}
    drawings["extension"] = extension_icon()
    drawings["screenshot"] = screenshot_placeholder()
    for key, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        drawings[key].save(path, optimize=True)
        logger.info("wrote %s", path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_all(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
