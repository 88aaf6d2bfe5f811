"""The model panel: the loaded model's card, Load Model..., the device choice, and the
"Denoise first (Noise2Self)" option with Load Denoiser...."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

DEVICE_LABELS = (("auto", "Auto"), ("cpu", "CPU"), ("cuda", "CUDA"), ("mps", "MPS"))


#: The scale policies (:mod:`core.inference.scale`) and TTA settings
#: (:data:`core.inference.tta.TTA_CHOICES`) as the panel offers them, ``auto`` first.
SCALE_POLICY_LABELS = (
    ("auto", "Auto: resample 0.25-4x, else native"),
    ("model", "Resample up to 1/8-8x"),
    ("native", "Never resample"),
    ("skip", "Skip images out of scale"),
)
TTA_LABELS = (
    ("auto", "Auto: one pass out of scale"),
    ("on", "Always"),
    ("off", "Never (4x faster)"),
)


def _choice_combo(labels: Sequence[tuple[str, str]], tip: str) -> QComboBox:
    combo = QComboBox()
    combo.setToolTip(tip)
    for name, label in labels:
        combo.addItem(label, name)
    return combo


def _get(card: Mapping[str, Any], *keys: str) -> Any:
    cur: Any = card
    for k in keys:
        if not isinstance(cur, Mapping) or k not in cur:
            return None
        cur = cur[k]
    return cur


def _num(v: Any, unit: str = "", digits: int = 3) -> str:
    if v is None:
        return "unknown"
    if isinstance(v, float):
        return f"{v:.{digits}f}{(' ' + unit) if unit else ''}"
    return f"{v}{(' ' + unit) if unit else ''}"


def card_rows(card: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, text) pairs summarising a model card for display."""
    if not card:
        return [("Model", "no model loaded")]
    arch = _get(card, "architecture", "name") or "unknown"
    cfg = _get(card, "architecture", "config") or {}
    if isinstance(cfg, Mapping) and cfg:
        arch += " (" + ", ".join(f"{k}={v}" for k, v in cfg.items()) + ")"
    size = _get(card, "input", "size")
    size_text = f"{size[0]} x {size[1]} px (rows x cols)" if size else "unknown"
    data = _get(card, "training", "data") or {}
    data_text = "unknown"
    if isinstance(data, Mapping) and data:
        bits = []
        if data.get("root"):
            bits.append(str(data["root"]))
        if data.get("n_train") is not None:
            bits.append(f"{data['n_train']} train / {data.get('n_val', '?')} val")
        if data.get("hash"):
            bits.append(f"hash {str(data['hash'])[:12]}")
        data_text = ", ".join(bits) or "unknown"
    metrics = _get(card, "metrics") or {}
    metric_bits = []
    if isinstance(metrics, Mapping):
        for key, label in (
            ("val_rmse_per_image", "val RMSE per image"),
            ("val_rmse_pooled", "val RMSE pooled"),
        ):
            if metrics.get(key) is not None:
                metric_bits.append(f"{label} {_num(metrics[key], 'DU')}")
    nm_du = _get(card, "output", "nm_per_depth_unit")
    rows = [
        ("Model", str(card.get("id", "unnamed"))),
        ("Architecture", arch),
        ("Training data", data_text),
        ("Preset", str(_get(card, "training", "preset") or "unknown")),
        ("Metrics", "; ".join(metric_bits) or "none recorded"),
        ("Input size", size_text),
        ("Pixel size", _num(_get(card, "input", "pixel_size_nm"), "nm")),
        ("Depth scale", "unknown (DU only)" if nm_du is None else f"{nm_du:g} nm per DU"),
        ("Fast path", str(_get(card, "inference", "fast_path") or "fp32")),
    ]
    return rows


class ModelPanel(QWidget):
    """Emits ``loadRequested`` (Load Model...), ``deviceChanged(name)``,
    ``denoiseToggled(on)`` (the "Denoise first (Noise2Self)" box, ticked by the user) and
    ``loadDenoiserRequested`` (Load Denoiser...)."""

    loadRequested = Signal()
    deviceChanged = Signal(str)
    #: (scale policy, TTA setting): the "Scale policy" or "Test-time flips" choice changed
    predictionSettingsChanged = Signal(str, str)
    denoiseToggled = Signal(bool)
    loadDenoiserRequested = Signal()

    def __init__(self, available: Mapping[str, bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.card_view = QTextBrowser()
        self.card_view.setOpenLinks(False)
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.load_button = QPushButton("Load Model...")
        self.load_button.clicked.connect(self.loadRequested)
        self.device_combo = QComboBox()
        self.device_combo.setToolTip("Where inference runs (unavailable devices are disabled)")
        for name, label in DEVICE_LABELS:
            self.device_combo.addItem(label, name)
            if not available.get(name, name == "auto"):
                i = self.device_combo.count() - 1
                item = self.device_combo.model().item(i)  # type: ignore[attr-defined]
                item.setEnabled(False)
                item.setToolTip(f"{label} is not available on this machine")
        self.device_combo.currentIndexChanged.connect(self._on_device)
        self.actual_device = QLabel("")
        self.scale_combo = _choice_combo(
            SCALE_POLICY_LABELS,
            "At which pixel size images are predicted when theirs differs from the model's "
            "(the decision and its reason are in each result's notes)",
        )
        self.tta_combo = _choice_combo(
            TTA_LABELS,
            "Test-time flips (the uncertainty map is their spread); auto leaves them out "
            "of an image out of the model's domain by its known pixel size",
        )
        for combo in (self.scale_combo, self.tta_combo):
            combo.currentIndexChanged.connect(self._on_prediction_settings)
        self.denoise_check = QCheckBox("Denoise first (Noise2Self)")
        self.denoise_check.setToolTip(
            "Clean each SEM image with a Noise2Self denoiser before the depth model "
            "(the outputs record it); the SEM panel can show the raw or denoised image"
        )
        self.denoise_check.toggled.connect(self.denoiseToggled)
        self.load_denoiser_button = QPushButton("Load Denoiser...")
        self.load_denoiser_button.setToolTip(
            "Choose a denoiser checkpoint (.safetensors from 'semdepth denoise train')"
        )
        self.load_denoiser_button.clicked.connect(self.loadDenoiserRequested)
        self.denoiser_label = QLabel("")
        self.denoiser_label.setObjectName("denoiser_label")
        self.denoiser_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Device:", self.device_combo)
        form.addRow("In use:", self.actual_device)
        form.addRow("Scale policy:", self.scale_combo)
        form.addRow("Test-time flips:", self.tta_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addLayout(form)
        denoise_row = QHBoxLayout()
        denoise_row.addWidget(self.denoise_check)
        denoise_row.addWidget(self.load_denoiser_button)
        denoise_row.addStretch(1)
        layout.addLayout(denoise_row)
        layout.addWidget(self.denoiser_label)
        layout.addWidget(self.card_view, 1)
        layout.addWidget(self.path_label)
        self.set_card(None)
        self.set_denoiser_info(None)

    def set_card(self, card: Mapping[str, Any] | None, path: str = "", device: str = "") -> None:
        rows = card_rows(card)
        body = "".join(
            f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in rows
        )
        self.card_view.setHtml(f"<table cellspacing='3'>{body}</table>")
        # the file's name (the full path in the tooltip): screenshots show no machine paths
        self.path_label.setText(Path(path).name if path else "")
        self.path_label.setToolTip(path)
        self.actual_device.setText(device or ("–" if card is None else ""))

    def denoise_enabled(self) -> bool:
        return self.denoise_check.isChecked()

    def set_denoise_checked(self, on: bool) -> None:
        """Tick or clear the box without emitting ``denoiseToggled``."""
        self.denoise_check.blockSignals(True)
        self.denoise_check.setChecked(bool(on))
        self.denoise_check.blockSignals(False)

    def set_denoiser_info(self, model_id: str | None, path: str = "", note: str = "") -> None:
        """Say which denoiser is loaded (``None``: none) and, optionally, what happens."""
        if model_id is None:
            text = note or "Denoiser: none loaded"
        else:
            text = f"Denoiser: {model_id}" + (f" ({Path(path).name})" if path else "")
            self.denoiser_label.setToolTip(path)
            if note:
                text += f" - {note}"
        self.denoiser_label.setText(text)

    def device(self) -> str:
        return str(self.device_combo.currentData())

    def set_device(self, name: str) -> None:
        i = self.device_combo.findData(name)
        if i < 0:
            return
        item = self.device_combo.model().item(i)  # type: ignore[attr-defined]
        if not item.isEnabled():
            return
        self.device_combo.blockSignals(True)
        self.device_combo.setCurrentIndex(i)
        self.device_combo.blockSignals(False)

    def _on_device(self, _index: int) -> None:
        self.deviceChanged.emit(self.device())

    def scale_policy(self) -> str:
        return str(self.scale_combo.currentData())

    def tta(self) -> str:
        return str(self.tta_combo.currentData())

    def set_prediction_settings(self, scale_policy: str, tta: str) -> None:
        """Show remembered choices (unknown names fall back to auto) without emitting."""
        for combo, name in ((self.scale_combo, scale_policy), (self.tta_combo, tta)):
            i = combo.findData(name)
            combo.blockSignals(True)
            combo.setCurrentIndex(i if i >= 0 else 0)
            combo.blockSignals(False)

    def _on_prediction_settings(self, _index: int) -> None:
        self.predictionSettingsChanged.emit(self.scale_policy(), self.tta())
