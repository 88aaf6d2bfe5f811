"""Trust in a prediction: the domain check (is this image like the calibration data?),
calibrated uncertainty (split-conformal sigma) and the post-hoc fitting that writes both
into a model card. Pure numpy except :mod:`core.trust.features` (forward hooks)."""
