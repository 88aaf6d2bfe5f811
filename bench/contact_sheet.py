"""Contact sheet of simulated crops: depth map, then per case shot 0, shot 1 and noise-free.

Usage: ``python bench/contact_sheet.py [--out docs/synth_contact_sheet.png] [--scale 3]``.
Rows are structures of increasing hole depth (first row: a hole that did not open).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from core.synth import CASES, render_crops  # noqa: E402
from core.synth._files import write_bytes  # noqa: E402
from core.synth.imaging import to_uint8  # noqa: E402

TARGET_DEPTHS_DU = (2.0, 15.0, 40.0, 65.0, 90.0, 115.0, 140.0)


def build_sheet(seed: int = 0, scale: int = 3, pool: int = 400) -> Image.Image:
    cases = list(CASES)
    batch = render_crops(seed, list(range(pool)), cases)
    picks: list[int] = []
    for target in TARGET_DEPTHS_DU:
        order = np.argsort(np.abs(batch.hole_depth_du - target))
        picks.append(int(next(i for i in order if int(i) not in picks)))
    rows, cols = batch.depth_du.shape[1:]
    th, tw = rows * scale, cols * scale
    gap, left, top = 4, 92, 40
    n_cols = 1 + 3 * len(cases)
    width = left + n_cols * (tw + gap) + 2 * gap * len(cases)
    height = top + len(picks) * (th + gap)
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()

    def col_x(j: int) -> int:
        group = 0 if j == 0 else 1 + (j - 1) // 3
        return left + j * (tw + gap) + 2 * gap * group

    draw.text((col_x(0), 6), "depth (DU)", fill=0, font=font)
    for c, name in enumerate(cases):
        x = col_x(1 + 3 * c)
        draw.text((x, 6), name, fill=0, font=font)
        for s, label in enumerate(("itr0", "itr1", "clean")):
            draw.text((col_x(1 + 3 * c + s), 22), label, fill=0, font=font)
    for r, k in enumerate(picks):
        y = top + r * (th + gap)
        draw.text(
            (4, y + th // 2 - 14), f"depth {batch.hole_depth_du[k]:.0f} DU", fill=0, font=font
        )
        draw.text((4, y + th // 2), batch.params[k].kind, fill=0, font=font)
        tiles = [to_uint8(batch.depth_du[k])]
        for name in cases:
            tiles += [batch.sem[name][k, 0], batch.sem[name][k, 1], batch.clean[name][k]]
        for j, tile in enumerate(tiles):
            img = Image.fromarray(tile).resize((tw, th), Image.Resampling.NEAREST)
            sheet.paste(img, (col_x(j), y))
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "synth_contact_sheet.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=3)
    args = ap.parse_args(argv)
    sheet = build_sheet(args.seed, args.scale)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(args.out, buf.getvalue())
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
