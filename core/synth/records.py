"""``synth_images.csv``: one row per SEM image with its contrast family and drawn parameters.

Written beside ``synth_meta.json`` by the DACON and field writers, read back with
:func:`read_synth_images` (keyed by the SEM file's path relative to the data-set root,
``/``-separated), so a benchmark can group images by family, dose or depth.
Empty cells mean "not applicable to this image's family".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from core.synth.families import FAMILY_PARAM_NAMES

IMAGES_CSV = "synth_images.csv"

#: Column -> meaning (units); the CSV's columns in order.
IMAGE_COLUMNS: dict[str, str] = {
    "sem": "SEM file, relative to the data-set root",
    "depth": "its depth map, relative to the data-set root",
    "structure": "structure name (shared by its shots and cases)",
    "case": "Case_k folder ('' for fields without one)",
    "shot": "shot index N of <name>_itrN",
    "family": "contrast family",
    "azimuth": "the side detector's azimuth: 'drawn' at random per image, or 'case' (fixed by "
    "the imaging case: a mirrored image is not one the simulator draws)",
    "kind": "hole kind: open, shallow (under-etched), closed ('' for fields)",
    "top_du": "top surface level (DU)",
    "hole_depth_du": "top level minus the deepest point of the depth map (DU)",
    "dose": "mean detected electrons per pixel on the flat top (e-/px)",
    "psf_sigma_px": "Gaussian probe sigma (px)",
    "psf_tail_frac": "fraction of the PSF energy in its exponential tail",
    "psf_tail_px": "tail length (px; '' without a tail)",
    "offset_dn": "detector black level (DN)",
    "gain_dn": "DN per unit of flat-top yield (before gamma)",
    "gamma": "detector gamma",
    "saturation_dn": "hard clip level (DN)",
    "read_noise_dn": "Gaussian read noise (DN, std)",
    "row_noise_dn": "scan-line offset noise (DN, std per row)",
    "scan_lag": "fast-axis bandwidth: each pixel keeps this fraction of the previous one",
    "drift_row": "brightness ramp across the frame along rows (fraction)",
    "drift_col": "brightness ramp across the frame along columns (fraction)",
    "grain_amp": "top-surface texture: relative yield std",
    "grain_px": "texture correlation length (px)",
}
_FIXED = list(IMAGE_COLUMNS)
COLUMNS: list[str] = _FIXED + [k for k in FAMILY_PARAM_NAMES if k not in IMAGE_COLUMNS]
_TEXT = {"sem", "depth", "structure", "case", "family", "azimuth", "kind"}
_DIGITS = 6


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, _DIGITS)
    return value


def images_csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """CSV text of ``rows`` (dicts keyed by :data:`COLUMNS`; missing keys -> empty)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return buf.getvalue().encode("utf-8")


def default_azimuth(meta: dict[str, Any]) -> str:
    """The ``azimuth`` of the images of a data set written before that column, from its
    ``synth_meta.json``: ``case`` for the legacy imaging cases, else ``drawn``."""
    return "case" if meta.get("randomisation") == "cases" else "drawn"


def _parse(key: str, text: str) -> Any:
    if key in _TEXT:
        return text
    if text == "":
        return None
    if key == "shot":
        return int(text)
    return float(text)


def read_synth_images(root: str | Path) -> dict[str, dict[str, Any]]:
    """``synth_images.csv`` of a data set: relative SEM path -> its row (numbers as float,
    ``shot`` as int, empty cells as None). Raises FileNotFoundError for a data set written
    before the file existed."""
    path = Path(root) / IMAGES_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {IMAGES_CSV} (not a simulated data set?)")
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["sem"]: {k: _parse(k, v) for k, v in row.items()} for row in csv.DictReader(fh)}
