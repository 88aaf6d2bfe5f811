"""Units of every number the window shows or exports: lengths in px or in metres with an SI
prefix (nm, µm, mm), depths in depth units (DU) or nm.

One :class:`Units` object answers for the shown result: the unit choice (``"DU"``: pixels
and depth units; ``"nm"``: physical lengths and depths where the file and the model card
give the scale) combined with what the result knows (its pixel size, the model card's nm
per depth unit). Whatever is not known stays in px or DU, and the labels say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: (nm per unit, symbol), largest first: lengths are written in the largest unit that keeps
#: the number at or above 1 ("218.3 µm", not "218261.73 nm").
LENGTH_UNITS: tuple[tuple[float, str], ...] = (
    (1e6, "mm"),
    (1e3, "µm"),
    (1.0, "nm"),
    (1e-3, "pm"),
)
UNITS = ("DU", "nm")  # the unit choice: pixels and DU, or physical units


def length_unit(nm: float) -> tuple[float, str]:
    """``(nm per unit, symbol)`` for writing the length ``nm`` (its magnitude decides)."""
    size = abs(nm)
    for factor, symbol in LENGTH_UNITS:
        if size >= factor:
            return factor, symbol
    return LENGTH_UNITS[-1]


def format_length(nm: float, digits: int = 4) -> str:
    """A length in nm with an SI prefix and ``digits`` significant digits at most:
    ``218261.73`` -> ``"218.3 µm"``, ``2.5`` -> ``"2.5 nm"``, ``0`` -> ``"0 nm"``."""
    if not math.isfinite(nm):
        return f"{nm} nm"
    if nm == 0:
        return "0 nm"
    factor, symbol = length_unit(nm)
    return f"{nm / factor:.{digits}g} {symbol}"


def nice_length(target: float) -> float:
    """The 1, 2 or 5 x 10^k closest below ``target`` (> 0): scale-bar lengths."""
    if not (target > 0 and math.isfinite(target)):
        return 1.0
    exp = math.floor(math.log10(target))
    base = 10.0**exp
    for m in (5.0, 2.0, 1.0):
        if m * base <= target:
            return m * base
    return base


@dataclass(frozen=True)
class Units:
    """How the shown result's numbers are written.

    ``choice``: ``"DU"`` (px and DU) or ``"nm"`` (physical). ``pixel_size_nm`` and
    ``nm_per_du`` come from the result (None: unknown), so ``"nm"`` gives physical lengths
    only with a pixel size and nm depths only with the card's depth scale.
    """

    choice: str = "DU"
    pixel_size_nm: float | None = None
    nm_per_du: float | None = None
    empty: bool = False  # nothing shown: labels follow the choice alone

    @property
    def physical_lengths(self) -> bool:
        return self.choice == "nm" and bool(self.pixel_size_nm)

    @property
    def nm_depths(self) -> bool:
        return self.choice == "nm" and bool(self.nm_per_du)

    @property
    def depth_scale(self) -> float:
        """Factor from DU to the shown depth unit."""
        return float(self.nm_per_du) if self.nm_depths and self.nm_per_du else 1.0

    @property
    def depth_unit(self) -> str:
        """``"nm"`` or ``"DU"``: the unit of every depth shown (with nm chosen and nothing
        shown, the empty views announce nm)."""
        if self.choice == "nm" and (self.nm_per_du or self.empty):
            return "nm"
        return "DU"

    @classmethod
    def for_data(cls, choice: str, data: object | None) -> Units:
        """The units of ``data`` (a :class:`~app.state.DisplayData` or None: nothing shown)."""
        if data is None:
            return cls(choice, None, None, True)
        return cls(
            choice,
            getattr(data, "pixel_size_nm", None),
            getattr(data, "nm_per_depth_unit", None),
        )

    @property
    def length_symbol(self) -> str:
        """``"px"``, or ``"m"`` for physical lengths (axes add the SI prefix themselves);
        with nm chosen and nothing shown, ``"m"`` too."""
        return "m" if self.physical_lengths or (self.empty and self.choice == "nm") else "px"

    @property
    def axis_scale(self) -> float:
        """Metres per pixel for a physical axis, 1 for a pixel axis."""
        if self.physical_lengths and self.pixel_size_nm:
            return float(self.pixel_size_nm) * 1e-9
        return 1.0

    def length(self, px: float, digits: int = 4) -> str:
        """A length given in pixels, written in the chosen unit (``"12.5 px"``, ``"31.2 µm"``)."""
        if self.physical_lengths and self.pixel_size_nm:
            return format_length(px * float(self.pixel_size_nm), digits)
        return f"{px:.{digits}g} px"

    def length_nm(self, px: float) -> float | None:
        return px * float(self.pixel_size_nm) if self.pixel_size_nm else None

    def depth(self, du: float | None, decimals: int = 2) -> str:
        """A depth given in DU, written in the chosen depth unit (``"101.25 DU"``)."""
        if du is None or not math.isfinite(du):
            return "–"
        return f"{du * self.depth_scale:.{decimals}f} {self.depth_unit}"
