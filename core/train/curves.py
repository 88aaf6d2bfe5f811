"""``curves.png`` of a run folder: losses and RMSE per epoch, drawn with Pillow."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from core.train.callbacks import EpochMetrics


def plot_curves(history: Sequence[EpochMetrics], *, size: tuple[int, int] = (960, 380)) -> bytes:
    """PNG bytes: training losses (left) and RMSE in DU (right) per epoch, drawn with Pillow."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    epochs = [float(m.epoch) for m in history]
    panels = [
        (
            "training losses",
            [("loss_g", "G loss", (31, 119, 180)), ("loss_d", "D loss", (214, 39, 40))],
        ),
        (
            "RMSE (DU)",
            [
                ("train_rmse", "train", (127, 127, 127)),
                ("val_rmse_per_image", "val per image", (44, 160, 44)),
                ("val_rmse_pooled", "val pooled", (255, 127, 14)),
            ],
        ),
    ]
    pw = width // 2
    for k, (title, series) in enumerate(panels):
        x0, y0, x1, y1 = k * pw + 58, 28, (k + 1) * pw - 16, height - 40
        draw.text((x0, 8), title, fill="black", font=font)
        draw.rectangle((x0, y0, x1, y1), outline="black")
        vals = [
            float(getattr(m, key))
            for key, _, _ in series
            for m in history
            if math.isfinite(float(getattr(m, key)))
        ]
        if not epochs or not vals:
            draw.text((x0 + 10, y0 + 10), "no data", fill="gray", font=font)
            continue
        vmin, vmax = min(vals), max(vals)
        if vmax - vmin < 1e-12:
            vmin, vmax = vmin - 0.5, vmax + 0.5
        pad = 0.05 * (vmax - vmin)
        vmin, vmax = vmin - pad, vmax + pad
        emin, emax = min(epochs), max(epochs)
        if emax == emin:
            emin, emax = emin - 0.5, emax + 0.5

        def xy(
            e: float,
            v: float,
            x0: int = x0,
            x1: int = x1,
            y0: int = y0,
            y1: int = y1,
            emin: float = emin,
            emax: float = emax,
            vmin: float = vmin,
            vmax: float = vmax,
        ) -> tuple[float, float]:
            return (
                x0 + (e - emin) / (emax - emin) * (x1 - x0),
                y1 - (v - vmin) / (vmax - vmin) * (y1 - y0),
            )

        for t in range(5):  # y ticks
            v = vmin + (vmax - vmin) * t / 4
            _, yy = xy(emin, v)
            draw.line((x0 - 4, yy, x0, yy), fill="black")
            draw.text((x0 - 54, yy - 6), f"{v:.3g}", fill="black", font=font)
        for e in _ticks(emin, emax):
            xx, _ = xy(e, vmin)
            draw.line((xx, y1, xx, y1 + 4), fill="black")
            draw.text((xx - 6, y1 + 6), f"{e:g}", fill="black", font=font)
        draw.text(((x0 + x1) // 2 - 14, y1 + 20), "epoch", fill="black", font=font)
        ly = y0 + 6
        for key, label, colour in series:
            pts = [
                xy(m_e, float(getattr(m, key)))
                for m_e, m in zip(epochs, history, strict=True)
                if math.isfinite(float(getattr(m, key)))
            ]
            if not pts:
                continue
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2)
            for px, py in pts:
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
            draw.line((x1 - 120, ly + 6, x1 - 100, ly + 6), fill=colour, width=2)
            draw.text((x1 - 95, ly), label, fill="black", font=font)
            ly += 14
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = hi - lo
    raw = span / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out
