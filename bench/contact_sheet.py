"""Contact sheets of simulated crops.

Usage: ``python bench/contact_sheet.py [--sheet legacy|families|both] [--scale 3]``.

- legacy (``docs/synth_contact_sheet.png``): depth map, then per imaging case shot 0,
  shot 1 and noise-free; rows are structures of increasing hole depth (first row: a hole
  that did not open).
- families (``docs/synth_families_sheet.png``): per contrast family a shallow and a deep
  hole (the same two structures for every family); depth map, then shot and noise-free at
  a low and a high dose with the same probe and detector, then two shots with the
  family's randomly drawn settings (what a data set holds).
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

from core.synth import CASES, render_crops, wide  # noqa: E402
from core.synth import detector as det  # noqa: E402
from core.synth._files import write_bytes  # noqa: E402
from core.synth.families import FAMILIES  # noqa: E402
from core.synth.imaging import to_uint8  # noqa: E402
from core.synth.streams import rng_for  # noqa: E402

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


#: The fixed probe and detector of the dose columns (only the dose changes).
SHEET_COMMON = det.CommonParams(
    dose=50.0,
    psf_sigma_px=0.9,
    psf_tail_frac=0.1,
    psf_tail_px=5.0,
    offset_dn=30.0,
    gain_dn=100.0,
    gamma=1.0,
    saturation_dn=255.0,
    read_noise_dn=1.5,
    row_noise_dn=1.0,
    scan_lag=0.15,
    drift_row=0.0,
    drift_col=0.0,
    grain_amp=0.05,
)
LOW_DOSE, HIGH_DOSE = 8.0, 90.0
FAMILY_DEPTHS_DU = (30.0, 145.0)


def _pick_open(seed: int, targets: tuple[float, ...], pool: int = 300) -> list[int]:
    """Open holes of the wide sampler with flat-ish bottoms nearest each target depth."""
    found: list[tuple[float, int]] = []
    for i in range(pool):
        p, top, depth_du, _, _ = wide.structure_scene(seed, i, with_los=False)
        if p.kind == "open" and p.v_frac == 0 and 0.85 < p.aspect < 1.25:
            found.append((float(top - depth_du.min()), i))
    return [min(found, key=lambda h: abs(h[0] - t))[1] for t in targets]


def build_family_sheet(seed: int = 0, scale: int = 3) -> Image.Image:
    picks = _pick_open(seed, FAMILY_DEPTHS_DU)
    labels = [
        "depth (DU)",
        f"{LOW_DOSE:.0f} e-/px",
        "clean",
        f"{HIGH_DOSE:.0f} e-/px",
        "clean",
        "drawn #1",
        "drawn #2",
    ]
    th, tw = 72 * scale, 48 * scale
    gap, left, top = 4, 120, 28
    width = left + len(labels) * (tw + gap)
    height = top + 2 * len(FAMILIES) * (th + gap) + gap * len(FAMILIES)
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for j, label in enumerate(labels):
        draw.text((left + j * (tw + gap), 8), label, fill=0, font=font)
    y = top
    for f_idx, fam in enumerate(FAMILIES.values()):
        mid = {k: (lo + hi) / 2 for k, (lo, hi, _) in fam.params.items()}
        for i in picks:
            _, top_du, depth_du, scene, _ = wide.structure_scene(seed, i, with_los=fam.needs_los)
            tiles = [to_uint8(depth_du)]
            for dose in (LOW_DOSE, HIGH_DOSE):
                c = det.CommonParams(**{**SHEET_COMMON.to_dict(), "dose": dose})
                shots, clean = wide.render_image(scene, fam, c, mid, [rng_for(seed, 99, i, 0)])
                tiles += [shots[0], clean]
            for k in (1, 2):
                rng = rng_for(seed, wide.WIDE_STREAM, i, 10 * (f_idx + 1) + k, 0)
                c = det.draw_common(rng)
                shots, _ = wide.render_image(
                    scene, fam, c, fam.draw(rng), [rng_for(seed, 99, i, k)]
                )
                tiles.append(shots[0])
            draw.text((4, y + th // 2 - 14), fam.name, fill=0, font=font)
            draw.text(
                (4, y + th // 2), f"hole {top_du - depth_du.min():.0f} DU deep", fill=0, font=font
            )
            for j, tile in enumerate(tiles):
                img = Image.fromarray(tile).resize((tw, th), Image.Resampling.NEAREST)
                sheet.paste(img, (left + j * (tw + gap), y))
            y += th + gap
        y += gap
    return sheet


def _save(sheet: Image.Image, out: Path) -> None:
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(out, buf.getvalue())
    print(f"wrote {out} ({sheet.width}x{sheet.height})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sheet", choices=("legacy", "families", "both"), default="both")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "synth_contact_sheet.png")
    ap.add_argument("--families-out", type=Path, default=REPO / "docs" / "synth_families_sheet.png")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=int, default=3)
    args = ap.parse_args(argv)
    if args.sheet in ("legacy", "both"):
        _save(build_sheet(args.seed, args.scale), args.out)
    if args.sheet in ("families", "both"):
        _save(build_family_sheet(args.seed, args.scale), args.families_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
