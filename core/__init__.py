"""SEM Depth Studio engine: reading SEM files, simulation, models, inference.

Plain Python, no Qt: usable as a library and through the ``semdepth`` CLI.
"""

__version__ = "0.1.0"
