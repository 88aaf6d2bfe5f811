"""Denoising batches of SEM files with a trained Noise2Self denoiser.

:func:`denoise_batch` denoises files, folders and globs (expanded like ``semdepth
predict`` by :func:`core.batch.expand_inputs`) into ``<stem>_denoised.tif`` (float32,
0..1, calibrated when the pixel size is known) and ``<stem>_denoised.png`` (8-bit), plus a
``summary.csv``. The loop, the failure capture and the summary file are core.batch's
(:func:`~core.batch.run_items`, :func:`~core.batch.capture_failure`,
:class:`~core.batch.SummaryWriter`): a bad file becomes a failed row, never an exception,
and existing outputs are never replaced unless ``overwrite``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.models.card import INTENSITY_UNIT
from core.models.noise2self import METHOD, Noise2SelfDenoiser
from core.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from core.io import SemImage

log = logging.getLogger(__name__)

DENOISE_FORMATS = ("tiff", "png")
SUMMARY_COLUMNS = ("file", "status", "error", "rows", "cols", "seconds", "outputs")


@dataclass
class DenoiseItem:
    index: int
    source: Path
    status: str  # "done" | "failed" | "cancelled"
    error: str | None
    outputs: dict[str, Path]
    seconds: float
    shape: tuple[int, int] | None = None
    denoised: np.ndarray | None = None


@dataclass
class DenoiseSummary:
    items: list[DenoiseItem]
    n_done: int
    n_failed: int
    cancelled: bool
    summary_csv: Path | None


def check_denoise_formats(formats: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for f in formats:
        key = f.strip().lower()
        if key == "tif":
            key = "tiff"
        if key not in DENOISE_FORMATS:
            raise ValueError(
                f"unknown output format {f!r}; choose from {', '.join(DENOISE_FORMATS)}"
            )
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("no output format given (tiff, png)")
    return tuple(out)


def planned_denoise_outputs(out_dir: Path, stem: str, formats: Sequence[str]) -> dict[str, Path]:
    plan: dict[str, Path] = {}
    if "tiff" in formats:
        plan["denoised_tiff"] = out_dir / f"{stem}_denoised.tif"
    if "png" in formats:
        plan["denoised_png"] = out_dir / f"{stem}_denoised.png"
    return plan


def _summary_row(it: DenoiseItem) -> list[str]:
    return [
        str(it.source),
        it.status,
        it.error or "",
        "" if it.shape is None else str(it.shape[0]),
        "" if it.shape is None else str(it.shape[1]),
        f"{it.seconds:.3f}",
        ";".join(p.name for p in it.outputs.values()),
    ]


class _DenoiseJob:
    """The work on one input (what :func:`core.batch.run_items` calls per path)."""

    def __init__(
        self,
        denoiser: Noise2SelfDenoiser,
        out_dir: Path | None,
        stem: Callable[[Path], str],
        *,
        formats: tuple[str, ...],
        invariant: bool,
        overwrite: bool,
        cancel: CancelToken | None,
    ) -> None:
        self.denoiser, self.out_dir, self.stem = denoiser, out_dir, stem
        self.formats, self.invariant = formats, invariant
        self.overwrite, self.cancel = overwrite, cancel

    def _write(
        self, item: DenoiseItem, plan: dict[str, Path], den: np.ndarray, img: SemImage
    ) -> None:
        from core.io import write_depth_png, write_depth_tiff

        desc = {
            "source": str(item.source),
            "quantity": "denoised SEM intensity",
            "denoiser": self.denoiser.model_id,
            "method": METHOD,
            "invariant": self.invariant,
            "source_dtype": img.dtype,
        }
        for kind, target in plan.items():
            if kind == "denoised_tiff":
                item.outputs[kind] = write_depth_tiff(
                    target,
                    den,
                    pixel_size_nm=img.pixel_size_nm,
                    value_unit=INTENSITY_UNIT,
                    description=desc,
                    overwrite=self.overwrite,
                )
            else:
                item.outputs[kind] = write_depth_png(target, den * 255.0, overwrite=self.overwrite)

    def __call__(self, index: int, path: Path) -> DenoiseItem:
        from core.batch import capture_failure, refuse_existing
        from core.io import read_sem

        item = DenoiseItem(index, path, "failed", None, {}, 0.0)
        with capture_failure(item, path, log):
            plan = {}
            if self.out_dir is not None:
                plan = planned_denoise_outputs(self.out_dir, self.stem(path), self.formats)
            if not self.overwrite:
                refuse_existing(plan.values())
            img = read_sem(path)
            item.shape = img.shape
            den = self.denoiser.denoise(img.normalized(), invariant=self.invariant)
            item.denoised = den
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            self._write(item, plan, den, img)
            item.status = "done"
        return item


def _drop_array(item: DenoiseItem) -> None:
    item.denoised = None


def denoise_batch(
    inputs: Sequence[str | Path],
    denoiser: Noise2SelfDenoiser,
    out_dir: str | Path | None,
    *,
    formats: Sequence[str] = DENOISE_FORMATS,
    invariant: bool = False,
    overwrite: bool = False,
    keep_results: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_item: Callable[[DenoiseItem], None] | None = None,
) -> DenoiseSummary:
    """Denoise every input (files, folders, globs) and write its outputs; never raises for
    a bad input. ``out_dir=None`` computes only. ``keep_results`` keeps each denoised array
    on its item. Raises only for bad arguments (unknown format)."""
    from core.batch import StemNamer, SummaryWriter, expand_inputs, run_items

    fmts = check_denoise_formats(formats)
    out = None if out_dir is None else Path(out_dir)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    paths = expand_inputs(inputs, exclude=[] if out is None else [out])
    writer = None
    if out is not None:
        writer = SummaryWriter(out, overwrite=overwrite, columns=SUMMARY_COLUMNS, row=_summary_row)
    job = _DenoiseJob(
        denoiser,
        out,
        StemNamer(paths),
        formats=fmts,
        invariant=invariant,
        overwrite=overwrite,
        cancel=cancel,
    )
    release = None if keep_results else _drop_array
    run = run_items(
        paths,
        job,
        progress=progress,
        cancel=cancel,
        on_item=on_item,
        release=release,
        writer=writer,
    )
    summary_csv = None if writer is None else writer.path
    return DenoiseSummary(run.items, run.n_done, run.n_failed, run.cancelled, summary_csv)
