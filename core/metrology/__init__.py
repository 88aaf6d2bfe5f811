"""Metrology on a predicted depth map: the local top surface and the depth below it
(:mod:`core.metrology.surface`), per-hole CDs, depth +- U and flags
(:mod:`core.metrology.holes`), field statistics and histograms
(:mod:`core.metrology.fieldstats`). Definitions in ``docs/metrology.md``."""
