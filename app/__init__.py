"""SEM Depth Studio desktop front end (PySide6 + pyqtgraph); drives :mod:`core`."""
