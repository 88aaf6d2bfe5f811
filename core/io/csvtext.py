"""Float32 matrices as CSV text: ``np.savetxt`` with ``%.9g``, a block of rows at a time.

Every value is written with 9 significant digits (enough for any float32 to read back
bit for bit); ``np.savetxt`` formats a whole row with one ``%`` operation, which on
NumPy 2 is faster than the vectorised digit arithmetic this module used to carry (0.66 s
against 1.2 s for a 2048 x 2048 map, 0.61 ms against 0.80 ms for a 72 x 48 crop), and the
text is the same. Blocks bound the float64 copy's memory on large maps.
"""

from __future__ import annotations

from typing import TextIO

import numpy as np

ROWS_PER_BLOCK = 256


def write_matrix(
    fh: TextIO, data: np.ndarray, fmt: str, rows_per_block: int = ROWS_PER_BLOCK
) -> None:
    """Write 2-D ``data`` to the text file ``fh`` as CSV (``,`` between values, a newline
    after each row), each value with ``fmt``."""
    for start in range(0, data.shape[0], rows_per_block):
        block = np.asarray(data[start : start + rows_per_block], dtype=np.float64)
        np.savetxt(fh, block, fmt=fmt, delimiter=",")
