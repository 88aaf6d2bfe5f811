"""Write the bundled sample images into ``resources/samples/`` (simulated, with ground truth).

``hole_<k>.png`` (k = 1..4): 72 x 48 single-hole SEM crops (shot itr0) of increasing depth,
one per imaging case, with ``hole_<k>_depth.png`` (8-bit depth, DACON convention).
``field_512.png``: a 512 x 512 field of holes (Case_1) with ``field_512_depth.tif``
(float32 DU, rounded to 1/256 DU so it compresses) and ``field_512_holes.csv``.
Usage: ``python bench/make_samples.py [--out resources/samples] [--overwrite]``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

from core.synth import CASES, PIXEL_SIZE_NM, render_crops, render_field  # noqa: E402
from core.synth._files import atomic_path, write_bytes, write_depth_tiff, write_png  # noqa: E402
from core.synth.field import HOLE_FIELDS  # noqa: E402
from core.synth.imaging import to_uint8  # noqa: E402

SEED = 2024
TARGET_DEPTHS_DU = (30.0, 65.0, 100.0, 135.0)


def write_compressed_depth_tiff(path: Path, depth: np.ndarray, description: dict) -> None:
    """The shared depth-TIFF format (core.io), re-saved with zlib + float predictor.

    An uncompressed 512 x 512 float32 map is 1 MB; the samples must stay small.
    """
    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.tif"
        write_depth_tiff(plain, depth, pixel_size_nm=PIXEL_SIZE_NM, description=description)
        with tifffile.TiffFile(plain) as tif:
            meta = dict(tif.imagej_metadata or {})
            res = tif.pages[0].tags["XResolution"].value
        for key in ("ImageJ", "images", "hyperstack", "mode"):
            meta.pop(key, None)
        with atomic_path(path) as tmp_path:
            tifffile.imwrite(
                tmp_path,
                depth.astype(np.float32),
                imagej=True,
                metadata=meta,
                resolution=(res[0] / res[1], res[0] / res[1]),
                compression="zlib",
                predictor=3,
            )
    try:
        from core.io.writers import read_depth_tiff
    except ImportError:
        return
    back, info = read_depth_tiff(path)
    if not np.array_equal(back, depth) or info.get("pixel_size_nm") != PIXEL_SIZE_NM:
        raise RuntimeError(f"{path}: compressed depth TIFF does not read back as written")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "samples")
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    names = [f"hole_{k}" for k in range(1, 5)]
    targets = [out / f"{n}.png" for n in names] + [out / "field_512.png"]
    existing = [p for p in targets if p.exists()]
    if existing and not args.overwrite:
        print(f"{existing[0]}: exists; pass --overwrite to replace the samples", file=sys.stderr)
        return 2

    cases = list(CASES)
    batch = render_crops(SEED, list(range(300)), cases)
    used: list[int] = []
    for k, (name, target, case) in enumerate(zip(names, TARGET_DEPTHS_DU, cases, strict=True)):
        order = np.argsort(np.abs(batch.hole_depth_du - target))
        i = int(next(j for j in order if int(j) not in used and batch.params[j].kind == "open"))
        used.append(i)
        write_png(out / f"{name}.png", batch.sem[case][i, 0])
        write_png(out / f"{name}_depth.png", to_uint8(batch.depth_du[i]))
        print(f"{name}: {batch.names[i]} {case} depth {batch.hole_depth_du[i]:.1f} DU (k={k})")

    field = render_field(SEED, 0, size=(512, 512), case="Case_1")
    write_png(out / "field_512.png", field.sem)
    depth = (np.round(field.depth_du.astype(np.float64) * 256.0) / 256.0).astype(np.float32)
    write_compressed_depth_tiff(
        out / "field_512_depth.tif",
        depth,
        description={"source": "bench/make_samples.py", "seed": SEED, "unit": "DU"},
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HOLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({"field": "field_512", **h} for h in field.holes)
    write_bytes(out / "field_512_holes.csv", buf.getvalue().encode("utf-8"))
    total = sum(p.stat().st_size for p in out.iterdir() if p.name.startswith(("hole_", "field_")))
    print(f"wrote {out}: {total / 1e3:.0f} kB of samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
