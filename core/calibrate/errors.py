"""The calibration's one error type."""

from __future__ import annotations


class CalibrationError(ValueError):
    """Inputs that cannot support a calibration (no images, a CSV that is malformed or names
    no image, too few references, a bad setting). The message is one line naming the file
    or setting and the problem; the CLI prints it and exits 2."""
