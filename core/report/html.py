"""The self-contained HTML report of one prediction (:func:`write_report`) and of a batch
(:func:`write_batch_report`).

One file each, no external URL: pictures are PNG data URIs, the style is inline. Every
number a reader may check sits in an element with a ``data-key`` attribute (the tests read
them back with :mod:`html.parser` and compare them with the result). Written atomically
through :func:`core.io.atomic.atomic_write_text`.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.report.images import data_uri, histogram_picture, map_picture

if TYPE_CHECKING:
    from core.inference import PredictionResult

#: Hole rows written into one report at most (the CSV has them all).
MAX_HOLE_ROWS = 500

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4em 0} td,th{border:1px solid #ccc;padding:2px 6px;
text-align:left;font-size:.9em} th{background:#f3f3f3} .num{text-align:right}
.banner{padding:.6em 1em;border-radius:4px;font-weight:600}
.ok{background:#e3f4e1;border:1px solid #5a5} .bad{background:#fde2e0;border:1px solid #c44}
.note{color:#555;font-size:.9em} figure{display:inline-block;margin:0 1em 1em 0;vertical-align:top}
figcaption{font-size:.85em;color:#444;max-width:40em}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any, digits: int = 4) -> str:
    """A number as text (``digits`` significant digits), ``""`` for None/NaN."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return "" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.{digits}g}"


def cell(value: Any, key: str | None = None, digits: int = 4) -> str:
    is_num = isinstance(value, int | float) and not isinstance(value, bool)
    plain = is_num or value is None or isinstance(value, bool)
    text = num(value, digits) if plain else esc(value)
    attrs = f' data-key="{esc(key)}"' if key else ""
    cls = ' class="num"' if is_num else ""
    return f"<td{attrs}{cls}>{text}</td>"


def table(rows: Iterable[tuple[str, Any, str | None]], digits: int = 4) -> str:
    """A two-column table of (label, value, data-key) rows."""
    body = "".join(
        f"<tr><th>{esc(label)}</th>{cell(v, key, digits)}</tr>" for label, v, key in rows
    )
    return f"<table>{body}</table>"


def grid(header: Sequence[str], rows: Iterable[Sequence[str]], key: str) -> str:
    """A table with a header row; ``rows`` are already rendered ``<td>`` cells."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f'<table data-table="{esc(key)}"><tr>{head}</tr>{body}</table>'


def page(title: str, sections: Sequence[str]) -> str:
    from core import __version__

    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>"
        f'<p class="note">SEM Depth Studio <span data-key="software_version">{esc(__version__)}'
        f'</span>, report written <span data-key="written">{esc(now)}</span></p>'
        + "".join(sections)
        + "</body></html>\n"
    )


def _verdict(result: PredictionResult) -> str:
    trust = result.trust
    if trust is None:
        return '<h2>Domain check</h2><p class="banner bad" data-key="verdict">not run</p>'
    v = trust.domain
    cls = "ok" if v.in_domain else "bad"
    text = "In domain" if v.in_domain else "OUT OF DOMAIN: do not sign off on these numbers"
    reasons = "".join(f'<li data-key="domain_reason">{esc(r)}</li>' for r in v.reasons)
    checks = grid(
        ["check", "ok", "value", "threshold", "note"],
        (
            [
                f"<td>{esc(name)}</td>",
                cell(c.get("ok"), f"check.{name}.ok"),
                cell(c.get("value"), f"check.{name}.value"),
                cell(c.get("threshold"), f"check.{name}.threshold"),
                f"<td>{esc(c.get('note', ''))}</td>",
            ]
            for name, c in v.checks.items()
        ),
        "checks",
    )
    return (
        f'<h2>Domain check</h2><p class="banner {cls}" data-key="verdict">{esc(text)}</p>'
        + table(
            [
                ("in domain", v.in_domain, "in_domain"),
                ("domain score (> 1: unlike the calibration images)", v.score, "domain_score"),
                ("fitted reference", v.fitted, "domain_fitted"),
            ]
        )
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + checks
    )


def _uncertainty(result: PredictionResult) -> str:
    trust = result.trust
    if trust is None:
        return ""
    rows: list[tuple[str, Any, str | None]] = [
        ("calibrated", trust.calibrated, "calibrated"),
        ("sigma inflation (out of domain)", trust.inflation, "sigma_inflation"),
        ("mean raw spread of the answers (DU)", float(np.mean(result.uncertainty)), "mean_raw_du"),
    ]
    if trust.sigma is not None:
        rows.append(
            ("mean sigma of the depth map (DU)", float(np.mean(trust.sigma)), "mean_sigma_du")
        )
    bt = trust.below_top
    if bt.sigma is not None:
        rows.append(
            (
                f"mean sigma, depth below top ({bt.unit})",
                float(np.mean(bt.sigma)),
                "mean_sigma_below_top",
            )
        )
    cal = trust.calibration or {}
    for name, s in (cal.get("scales") or {}).items():
        rows.append((f"scale {name}: q", s.get("q"), f"scale.{name}.q"))
        rows.append((f"scale {name}: tau (DU)", s.get("tau_du"), f"scale.{name}.tau_du"))
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in trust.notes)
    return (
        f'<h2>Uncertainty</h2><p data-key="uncertainty_statement">{esc(trust.statement)}</p>'
        + table(rows)
        + notes
    )


def _figures(result: PredictionResult) -> str:
    px = result.sem.pixel_size_nm
    trust = result.trust
    outlines = []
    if trust is not None and trust.holes is not None:
        outlines = [h.outline_top for h in trust.holes.holes if len(h.outline_top)]
    sem = result.denoised if result.denoised is not None else result.sem.pixels
    figs: list[tuple[str, np.ndarray, str, str, str]] = [
        ("sem", np.asarray(sem), "gray", "SEM (intensity)", "SEM image, hole outlines in yellow"),
        (
            "height",
            result.depth,
            "viridis",
            "height (DU)",
            "DACON height map (DU, deeper = smaller)",
        ),
    ]
    if trust is not None:
        bt = trust.below_top
        figs.insert(
            1,
            (
                "below_top",
                bt.values,
                "viridis",
                f"depth below top ({bt.unit})",
                f"Depth below the local top surface ({bt.unit}, positive down). {bt.unit_note}",
            ),
        )
        if bt.sigma is not None:
            figs.append(
                (
                    "sigma",
                    bt.sigma,
                    "magma",
                    f"sigma ({bt.unit})",
                    "Calibrated sigma of the depth below top (+-2 sigma: 95 % in domain)",
                )
            )
    figs.append(
        (
            "spread",
            result.uncertainty,
            "magma",
            "raw spread (DU)",
            "Raw spread of the model's answers (TTA, shots): a lower bound, not an interval",
        )
    )
    out = []
    for key, arr, cmap, label, caption in figs:
        lines = outlines if key in ("sem", "below_top") else ()
        pic, info = map_picture(arr, cmap=cmap, label=label, pixel_size_nm=px, outlines=lines)
        bar = (
            f" Scale bar: {info['scale_bar']}."
            if info["scale_bar"]
            else " No pixel size: no scale bar."
        )
        out.append(
            f'<figure><img alt="{esc(label)}" data-key="img.{key}" src="{data_uri(pic)}">'
            f'<figcaption>{esc(caption)}. Colour range <span data-key="img.{key}.lo">'
            f'{num(info["lo"])}</span> to <span data-key="img.{key}.hi">{num(info["hi"])}'
            f"</span>.{esc(bar)}</figcaption></figure>"
        )
    return "<h2>Images</h2>" + "".join(out)


def _holes(result: PredictionResult) -> str:
    trust = result.trust
    if trust is None or trust.holes is None:
        return ""
    tab = trust.holes
    from core.metrology.export import csv_columns
    from core.metrology.holes import HOLE_TABLE_COLUMNS

    units = tab.units()
    stat_rows = []
    for q, s in tab.stats.items():
        unit = (
            tab.depth_unit
            if q == "depth"
            else ("nm" if tab.pixel_size_nm else "px")
            if "cd" in q
            else "major/minor"
        )
        stat_rows.append(
            [f"<td>{esc(q)} ({esc(unit)})</td>"]
            + [
                cell(getattr(s, f), f"stats.{q}.{f}")
                for f in ("count", "mean", "sigma", "three_sigma", "min", "max")
            ]
        )
    stats = grid(
        ["quantity", "count", "mean", "sigma", "3 sigma", "min", "max"], stat_rows, "stats"
    )
    hists = "".join(
        f'<figure><img alt="histogram {esc(q)}" data-key="hist.{esc(q)}" '
        f'src="{data_uri(histogram_picture(h.edges, h.counts, label=q))}"></figure>'
        for q, h in tab.histograms.items()
        if h.counts
    )
    header = csv_columns(tab)
    shown = tab.holes[:MAX_HOLE_ROWS]
    rows = [
        [
            cell(h.as_row()[c] if h.as_row()[c] != "" else None, f"hole.{h.id}.{c}")
            for c in HOLE_TABLE_COLUMNS
        ]
        for h in shown
    ]
    more = (
        f'<p class="note">first {len(shown)} of {len(tab.holes)} holes; the holes CSV has all</p>'
        if len(tab.holes) > len(shown)
        else ""
    )
    return (
        f'<h2>Holes (<span data-key="n_holes">{len(tab.holes)}</span>)</h2>'
        f'<p class="note">Depth in {esc(units["depth"])}; U is the k = 2 interval half-width'
        f"{'' if tab.calibrated else ' (not calibrated: empty)'}; "
        "definitions in docs/metrology.md.</p>" + stats + hists + grid(header, rows, "holes") + more
    )


def _flat(prefix: str, value: Any) -> list[tuple[str, Any, str | None]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any, str | None]] = []
        for k, v in value.items():
            out += _flat(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    if isinstance(value, list | tuple):
        return [
            (prefix, ", ".join(num(v) if isinstance(v, float) else str(v) for v in value), None)
        ]
    return [(prefix, value, f"card.{prefix}")]


def _card_and_input(result: PredictionResult) -> str:
    sem = result.sem
    card = result.trust.model_card if result.trust is not None else {"id": result.model_id}
    meta = table(
        [
            ("file", str(sem.path) if sem.path else "(array)", "input.path"),
            ("rows", int(sem.shape[0]), "input.rows"),
            ("cols", int(sem.shape[1]), "input.cols"),
            ("pixel size (nm)", sem.pixel_size_nm, "input.pixel_size_nm"),
            ("pixel size from", sem.pixel_size_source, "input.pixel_size_source"),
            ("vendor", sem.vendor, "input.vendor"),
            ("format / dtype", f"{sem.format} / {sem.dtype}", None),
            ("data bar removed (rows)", int(sem.databar_height), "input.databar_rows"),
        ]
    )
    settings = table(
        [("mode", result.mode, "mode"), ("fast path", result.fast_path, "fast_path")]
        + [
            (k, v, f"settings.{k}")
            for k, v in result.settings.items()
            if not isinstance(v, dict | list)
        ]
        + [(f"time {k} (s)", v, f"time.{k}") for k, v in result.timings.items()]
    )
    notes = "".join(f'<li data-key="note">{esc(n)}</li>' for n in result.notes)
    return (
        "<h2>Model</h2>"
        + table(_flat("", card))
        + "<h2>Input</h2>"
        + meta
        + "<h2>Settings</h2>"
        + settings
        + (f"<ul>{notes}</ul>" if notes else "")
    )


def render_report(result: PredictionResult) -> str:
    """The HTML text of one prediction's report."""
    name = result.sem.path.name if result.sem.path else "image"
    return page(
        f"Depth report: {name}",
        [
            _verdict(result),
            _uncertainty(result),
            _figures(result),
            _holes(result),
            _card_and_input(result),
        ],
    )


def write_report(result: PredictionResult, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the self-contained HTML report of ``result`` to ``path`` atomically (refusing
    an existing file unless ``overwrite``); what File > Export Report calls."""
    from core.io.atomic import atomic_write_text

    path = Path(path)
    atomic_write_text(path, render_report(result), overwrite=overwrite)
    return path


BATCH_COLUMNS = (
    ("file", "file"),
    ("status", "status"),
    ("in_domain", "in domain"),
    ("domain_score", "domain score"),
    ("domain_reasons", "reasons"),
    ("n_holes", "holes"),
    ("hole_depth_mean", "mean hole depth"),
    ("depth_unit", "unit"),
    ("mean_sigma_du", "mean sigma (DU)"),
    ("rmse_du", "RMSE (DU)"),
    ("within_2sigma", "within 2 sigma"),
)


def write_batch_report(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    title: str = "Batch report",
    overwrite: bool = False,
) -> Path:
    """The batch's ``report.html``: one row per input (``rows``: the summary's fields by
    :data:`BATCH_COLUMNS` key, plus ``report`` the per-image report's file name), the
    counts, links to the per-image reports."""
    from core.io.atomic import atomic_write_text

    n_out = sum(1 for r in rows if r.get("in_domain") is False)
    n_done = sum(1 for r in rows if r.get("status") == "done")
    body = []
    for i, r in enumerate(rows):
        cells = []
        for key, _ in BATCH_COLUMNS:
            value = r.get(key)
            if key == "file" and r.get("report"):
                link = esc(r["report"])
                cells.append(f'<td data-key="row.{i}.file"><a href="{link}">{esc(value)}</a></td>')
            else:
                cells.append(cell(value, f"row.{i}.{key}"))
        body.append(cells)
    summary = table(
        [
            ("inputs", len(rows), "n_inputs"),
            ("done", n_done, "n_done"),
            ("out of domain", n_out, "n_out_of_domain"),
        ]
    )
    text = page(title, [summary, grid([label for _, label in BATCH_COLUMNS], body, "batch")])
    path = Path(path)
    atomic_write_text(path, text, overwrite=overwrite)
    return path
