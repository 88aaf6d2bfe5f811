"""The toolbar's display controls: depth colour map, auto or fixed depth levels, depth unit,
raw or denoised SEM. Widgets only; :class:`app.controllers.display.DisplayController`
gives them their behaviour."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QToolBar

from ..units import UNITS
from ..views.image_view import DEPTH_COLORMAPS


class DisplayControls:
    """Builds the widgets; :meth:`add_to` puts them, with their labels, on a toolbar."""

    def __init__(self) -> None:
        self.cmap_combo = QComboBox()
        self.cmap_combo.addItems(list(DEPTH_COLORMAPS))
        self.cmap_combo.setToolTip("Colour map of predicted and true depth")
        self.auto_levels = QCheckBox("Auto levels")
        self.auto_levels.setChecked(True)
        self.auto_levels.setToolTip("Depth colour range from the shown maps (shared)")
        self.level_min = QDoubleSpinBox()
        self.level_max = QDoubleSpinBox()
        for sb, v in ((self.level_min, 0.0), (self.level_max, 255.0)):
            sb.setRange(-1e6, 1e6)
            sb.setDecimals(2)
            sb.setValue(v)
            sb.setKeyboardTracking(False)
            sb.setEnabled(False)
        self.unit_combo = QComboBox()
        self.unit_combo.addItems(list(UNITS))
        self.unit_combo.setToolTip(
            "DU: pixels and depth units. nm: lengths in nm, µm or mm (needs the file's pixel "
            "size) and depths in nm (needs the model card's nm per depth unit); what is not "
            "known stays in px or DU, and every label says which"
        )
        self.sem_denoised_check = QCheckBox("Denoised SEM")
        self.sem_denoised_check.setChecked(True)
        self.sem_denoised_check.setEnabled(False)
        self.sem_denoised_check.setToolTip(
            "SEM panel: show the Noise2Self-denoised image (ticked) or the raw image; "
            "available when the prediction denoised first (Model panel)"
        )

    def add_to(self, toolbar: QToolBar) -> None:
        toolbar.addWidget(QLabel(" Colour map "))
        toolbar.addWidget(self.cmap_combo)
        toolbar.addWidget(self.auto_levels)
        toolbar.addWidget(QLabel(" min "))
        toolbar.addWidget(self.level_min)
        toolbar.addWidget(QLabel(" max "))
        toolbar.addWidget(self.level_max)
        toolbar.addWidget(QLabel(" Unit "))
        toolbar.addWidget(self.unit_combo)
        toolbar.addWidget(self.sem_denoised_check)
