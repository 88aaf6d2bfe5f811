"""Calibration of a depth model to the user's SEM (``semdepth calibrate``).

The user has unlabeled images of their tool and, at best, a few reference numbers: the
average depth of images or sites (OCD, cross-sections) and the depth of single holes
(cross-section SEM/TEM, AFM). :func:`calibrate` adapts the network to the images, uses the
references where cross-validation shows it helps, reports the before/after agreement on
references held out by k-fold cross-validation, and saves an ordinary checkpoint whose
card carries a ``calibration`` section.

Modules: ``request`` (:class:`CalibrationRequest`, :class:`CalibrationResult`),
``images`` (which files, their keys and hash), ``references`` (the CSV files and their
matching), ``probe`` (how a point is read from a map), ``inputs`` (all of it in the
model's terms), ``adapt`` (the fine-tuning loop), ``agreement`` (metrics, folds, the
output correction), ``head`` (folding a correction into the weights), ``section`` (the
card section and saving), ``run`` (:func:`calibrate`). No argparse, no Qt.
"""

from core.calibrate.errors import CalibrationError
from core.calibrate.request import CalibrationRequest, CalibrationResult, ReferenceResult
from core.calibrate.run import calibrate

__all__ = [
    "CalibrationError",
    "CalibrationRequest",
    "CalibrationResult",
    "ReferenceResult",
    "calibrate",
]
