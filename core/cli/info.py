"""``semdepth info FILE... [--json]``: size, dtype, pixel size, vendor and data bar per file.

Exit status 0 if every file was read, 1 if any failed (each failure is printed
with its file and cause on stderr, or as an ``error`` entry with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from core.io.errors import MultiPageWarning, SemReadError
from core.io.image import SemImage
from core.io.reader import DEFAULT_MAX_PIXELS, read_sem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="SEM image files")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one entry per file")
    parser.add_argument(
        "--metadata", action="store_true", help="with --json: include the vendor metadata"
    )
    parser.add_argument(
        "--keep-databar", action="store_true", help="do not cut the vendor data bar"
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,} pixels)",
    )


def summary(image: SemImage, *, with_metadata: bool = False) -> dict[str, Any]:
    """A JSON-serialisable summary of one read image."""
    rows, cols = image.shape
    out: dict[str, Any] = {
        "path": str(image.path),
        "format": image.format,
        "rows": rows,
        "cols": cols,
        "dtype": image.dtype,
        "bit_depth": image.bit_depth,
        "pixel_size_nm": image.pixel_size_nm,
        "pixel_size_source": image.pixel_size_source,
        "vendor": image.vendor,
        "databar_height": image.databar_height,
        "databar_source": image.metadata.get("databar_source"),
        "page_count": image.page_count,
        "value_min": float(image.pixels.min()),
        "value_max": float(image.pixels.max()),
    }
    if with_metadata:
        out["metadata"] = image.metadata
    return out


def _text(entry: dict[str, Any]) -> str:
    px = entry["pixel_size_nm"]
    size = f"{px:.6g} nm ({entry['pixel_size_source']})" if px is not None else "unknown"
    lines = [
        f"{entry['path']}",
        f"  format:      {entry['format']}, {entry['page_count']} page(s)",
        f"  shape:       {entry['rows']} x {entry['cols']} px (rows x cols)",
        f"  dtype:       {entry['dtype']} ({entry['bit_depth']}-bit), "
        f"values {entry['value_min']:g}..{entry['value_max']:g}",
        f"  pixel size:  {size}",
        f"  vendor:      {entry['vendor'] or 'unknown'}",
        f"  data bar:    {entry['databar_height']} rows removed ({entry['databar_source']})",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    entries: list[dict[str, Any]] = []
    failed = 0
    for name in args.files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MultiPageWarning)
            try:
                image = read_sem(
                    Path(name),
                    max_pixels=args.max_pixels,
                    strip_databar=not args.keep_databar,
                )
            except SemReadError as exc:
                failed += 1
                entries.append(
                    {"path": str(name), "error": str(exc), "error_type": type(exc).__name__}
                )
                if not args.json:
                    print(f"error: {exc}", file=sys.stderr)
                continue
        entry = summary(image, with_metadata=bool(args.json and args.metadata))
        notes = [str(w.message) for w in caught if issubclass(w.category, MultiPageWarning)]
        if notes:
            entry["warnings"] = notes
        entries.append(entry)
        if not args.json:
            print(_text(entry))
            for note in notes:
                print(f"  warning:     {note}")
    if args.json:
        print(json.dumps(entries, indent=2, allow_nan=False))
    return 1 if failed else 0
