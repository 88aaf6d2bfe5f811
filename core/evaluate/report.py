"""What an evaluation found: :class:`EvalReport` (per image and pooled RMSE, MAE, per case
and bucket, the worst images), its JSON form (``semdepth evaluate --json``) and its text.

Every RMSE is in depth units (DU, the 0-255 scale) and says how it was averaged:
``rmse_per_image`` is the RMSE of each image, then the mean over images (the DACON
metric); ``rmse_pooled`` is one RMSE over every pixel of every image;
``rmse_offset_free_per_image`` removes each image's mean error first (the top-surface
level no top-down image reveals), then averages over images: the error of the depth
relative to the image's own level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from core.metrics import GroupMetrics, ImageResult, MetricAccumulator


@dataclass
class EvalReport:
    """What :func:`evaluate_model` found; ``to_dict()`` is the ``--json`` output."""

    n_images: int
    rmse_per_image: float
    rmse_pooled: float
    mae: float
    per_case: dict[str, GroupMetrics]
    per_bucket: dict[str, GroupMetrics]
    worst: list[ImageResult]
    shots_averaged: GroupMetrics | None = None
    images: list[ImageResult] = field(default_factory=list, repr=False)
    info: dict[str, Any] = field(default_factory=dict)
    rmse_offset_free_per_image: float = float("nan")

    def to_dict(self, *, include_images: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "unit": "DU (0-255 depth units)",
            "n_images": self.n_images,
            "rmse_per_image": self.rmse_per_image,
            "rmse_pooled": self.rmse_pooled,
            "rmse_offset_free_per_image": self.rmse_offset_free_per_image,
            "mae": self.mae,
            "per_case": {k: asdict(v) for k, v in self.per_case.items()},
            "per_bucket": {k: asdict(v) for k, v in self.per_bucket.items()},
            "worst": [_image_dict(r) for r in self.worst],
            "shots_averaged": None if self.shots_averaged is None else asdict(self.shots_averaged),
            **self.info,
        }
        if include_images:
            out["images"] = [_image_dict(r) for r in self.images]
        return out

    def format_text(self) -> str:
        """A human-readable summary (the CLI prints it)."""
        lines = [
            f"images: {self.n_images}",
            f"RMSE per image (mean): {self.rmse_per_image:.4f} DU",
            f"RMSE pooled:           {self.rmse_pooled:.4f} DU",
            f"MAE:                   {self.mae:.4f} DU",
            f"RMSE offset-free (per image, mean error removed): "
            f"{self.rmse_offset_free_per_image:.4f} DU",
        ]
        if self.shots_averaged is not None:
            s = self.shots_averaged
            lines.append(
                f"two shots averaged ({s.n_images} structures): RMSE per image "
                f"{s.rmse_per_image:.4f} DU, pooled {s.rmse_pooled:.4f} DU"
            )
        for title, table in (("case", self.per_case), ("bucket", self.per_bucket)):
            if len(table) > 1 or (table and "-" not in table):
                lines.append(f"per {title}:  n  RMSE/image  RMSE pooled  MAE  offset-free")
                for k, g in table.items():
                    lines.append(
                        f"  {k:<12} {g.n_images:>5}  {g.rmse_per_image:9.4f}  "
                        f"{g.rmse_pooled:10.4f}  {g.mae:7.4f}  {g.rmse_offset_free_per_image:9.4f}"
                    )
        if self.worst:
            lines.append(f"worst {len(self.worst)} images (RMSE DU):")
            lines += [f"  {r.rmse:8.4f}  {r.sem_path}" for r in self.worst]
        return "\n".join(lines)


def _image_dict(r: ImageResult) -> dict[str, Any]:
    d = asdict(r)
    d.pop("sum_sq")
    d.pop("sum_abs")
    return d


def report_from(
    acc: MetricAccumulator,
    *,
    worst: int = 10,
    shots_averaged: GroupMetrics | None = None,
    info: Mapping[str, Any] | None = None,
) -> EvalReport:
    s = acc.summary()
    return EvalReport(
        n_images=s.n_images,
        rmse_per_image=s.rmse_per_image,
        rmse_pooled=s.rmse_pooled,
        mae=s.mae,
        per_case=acc.by("case"),
        per_bucket=acc.by("bucket"),
        worst=acc.worst(worst),
        shots_averaged=shots_averaged,
        images=list(acc.images),
        info=dict(info or {}),
        rmse_offset_free_per_image=s.rmse_offset_free_per_image,
    )
