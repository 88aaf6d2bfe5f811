"""Best-effort detection of a burned-in information bar at the bottom of an SEM image.

Used only for vendor files whose metadata does not state the bar height (Zeiss
SmartSEM data zones, TESCAN files without ImageStripSize); plain crops and
PNG/JPEG files without vendor metadata are never cut.

A data bar is recognised as: one full-width border row that is (nearly) a single
value, with every row below it mostly one background value, the panel made of two
far-apart values (background and text) covering most of its pixels, and ordinary
image rows above. The last few rows and the side columns are ignored (SmartSEM
draws its data zone as an inset box with a thin image margin around it).
"""

from __future__ import annotations

import numpy as np

MAX_FRACTION = 0.35  # a bar never takes more than 35 % of the rows
MIN_HEIGHT = 10  # px
BORDER_UNIFORMITY = 0.97  # fraction of a border row holding its most common value
PANEL_UNIFORMITY = 0.6  # every bar row: fraction holding its most common value
IMAGE_UNIFORMITY = 0.9  # rows just above the bar: mean fraction must stay below this
MIN_TEXT_CONTRAST = 0.5  # |background - text| / (max - min) of the image
TWO_TONE = 0.85  # background + text value: at least this fraction of the bar's pixels
MIN_TEXT_FRACTION = 0.03  # the text value: at least this fraction of the bar's pixels
EDGE_COLS = 4  # columns ignored at each side (Zeiss draws the data zone as an inset box)
TAIL_ROWS = 3  # rows below the panel that may still show image (inset box margin)


def _mode_fraction(row: np.ndarray) -> float:
    _, counts = np.unique(row, return_counts=True)
    return float(counts.max()) / float(row.size)


def _two_tone(bar: np.ndarray, span: float) -> bool:
    """A rendered information panel: two values (background, text) far apart dominate."""
    values, counts = np.unique(bar, return_counts=True)
    if len(values) < 2:
        return False
    order = np.argsort(counts)[::-1]
    first, second = counts[order[0]] / bar.size, counts[order[1]] / bar.size
    contrast = abs(float(values[order[0]]) - float(values[order[1]]))
    return (
        first + second >= TWO_TONE
        and second >= MIN_TEXT_FRACTION
        and contrast >= MIN_TEXT_CONTRAST * span
    )


def detect_databar(pixels: np.ndarray) -> int:
    """Height in rows of a data bar at the bottom of ``pixels`` (0 if none found)."""
    img = np.asarray(pixels)
    if img.ndim != 2:
        return 0
    rows, cols = img.shape
    if rows < 64 or cols < 64:
        return 0
    top = rows - int(rows * MAX_FRACTION)
    inner = img[:, EDGE_COLS : cols - EDGE_COLS]
    fractions = np.array([_mode_fraction(inner[r]) for r in range(top, rows)])
    span = float(np.nanmax(img) - np.nanmin(img))
    if not span > 0:
        return 0
    # all rows below are panel (except a thin image margin under an inset box)
    body = fractions[: len(fractions) - TAIL_ROWS]
    suffix_min = np.minimum.accumulate(body[::-1])[::-1]
    for i in range(4, len(body) - MIN_HEIGHT + 1):
        if fractions[i] < BORDER_UNIFORMITY or suffix_min[i] < PANEL_UNIFORMITY:
            continue
        if float(fractions[i - 4 : i].mean()) >= IMAGE_UNIFORMITY:
            continue  # flat region above: not a border between image and bar
        if not _two_tone(inner[top + i : rows - TAIL_ROWS], span):
            continue
        if float(np.mean(body[i:] < BORDER_UNIFORMITY)) < 0.2:
            continue  # no text rows: a flat region, not an information panel
        return rows - (top + i)
    return 0
