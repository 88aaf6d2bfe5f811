"""Float32 matrices as CSV text, vectorised: 10-20x faster than ``np.savetxt`` and exact.

Every value is written with 9 significant digits (what ``%.9g`` gives: enough for any
float32 to read back bit for bit), in plain positional notation with trailing zeros and
a bare point dropped (``123.456787``, ``0.5``, ``-3``, ``0``). The digits come from integer
arithmetic on whole arrays and the characters are gathered with one boolean mask, instead
of one Python format call per value. Values whose magnitude is outside 1e-4 .. 1e9 (which
``%.9g`` writes with an exponent) and non-finite values make :func:`format_rows` return
None, and the caller falls back to ``np.savetxt``.
"""

from __future__ import annotations

from typing import TextIO

import numpy as np

_INT_SLOTS = 9  # integer digits (|v| < 1e9)
_FRAC_SLOTS = 12  # fraction digits: up to 3 leading zeros (|v| >= 1e-4) + 9 significant
_WIDTH = 1 + _INT_SLOTS + 1 + _FRAC_SLOTS + 1  # sign, integer, point, fraction, separator
_ZERO, _POINT, _MINUS, _COMMA, _NEWLINE = (ord(c) for c in "0.-,\n")
_POW10 = 10.0 ** np.arange(-30, 31)


def _digits(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The integer part and the 12-digit fraction (both int64) of ``x`` (> 0) rounded to
    9 significant digits, or None when some value is outside 1e-4 .. 1e9."""
    e = np.floor(np.log10(x)).astype(np.int64)
    if e.min() < -4 or e.max() > 8:
        return None
    m = np.rint(x * _POW10[30 + 8 - e]).astype(np.int64)  # 9 significant digits
    low, high = m < 100_000_000, m >= 1_000_000_000  # log10 rounding at a power of ten
    if low.any() or high.any():
        e = e - low + high
        if e.min() < -4 or e.max() > 8:
            return None
        m = np.rint(x * _POW10[30 + 8 - e]).astype(np.int64)
    shift = 8 - e  # digits after the point among the 9
    scale = (10 ** np.clip(shift, 0, 18)).astype(np.int64)
    ip = np.where(e >= 0, m // scale, 0)
    rest = np.where(e >= 0, m % scale, m)
    # the fraction's digits, left-aligned in 12 slots: 10**(12 - shift) more
    fp = rest * (10 ** np.clip(_FRAC_SLOTS - shift, 0, 18)).astype(np.int64)
    return ip, fp


def format_rows(data: np.ndarray) -> bytes | None:
    """``data`` (2-D) as CSV lines (``,`` between values, ``\\n`` after each row), or None
    when a value cannot be written this way (see the module docstring)."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim != 2 or a.size == 0 or not np.isfinite(a).all():
        return None
    flat = a.ravel()
    neg = np.signbit(flat)  # -0.0 too, as %.9g writes it
    x = np.abs(flat)
    zero = x == 0
    ip = np.zeros(flat.shape, np.int64)
    fp = np.zeros(flat.shape, np.int64)
    if not zero.all():
        got = _digits(np.where(zero, 1.0, x))
        if got is None:
            return None
        ip, fp = np.where(zero, 0, got[0]), np.where(zero, 0, got[1])
    n = flat.size
    chars = np.zeros((n, _WIDTH), np.uint8)
    keep = np.zeros((n, _WIDTH), bool)
    chars[:, 0], keep[:, 0] = _MINUS, neg
    # integer digits, right-aligned; at least the last one
    rem = ip.copy()
    for k in range(_INT_SLOTS, 0, -1):
        chars[:, k] = _ZERO + rem % 10
        rem //= 10
    n_int = 1 + sum((ip >= 10**j).astype(np.int64) for j in range(1, _INT_SLOTS))
    slot = np.arange(1, _INT_SLOTS + 1)
    keep[:, 1 : _INT_SLOTS + 1] = slot[None, :] > _INT_SLOTS - n_int[:, None]
    # fraction digits, left-aligned, up to the last non-zero one
    rem = fp.copy()
    last = np.zeros(n, np.int64)  # how many fraction digits to keep
    base = _INT_SLOTS + 2
    for k in range(_FRAC_SLOTS - 1, -1, -1):
        digit = rem % 10
        chars[:, base + k] = _ZERO + digit
        last = np.where((last == 0) & (digit != 0), k + 1, last)
        rem //= 10
    keep[:, base : base + _FRAC_SLOTS] = np.arange(_FRAC_SLOTS)[None, :] < last[:, None]
    chars[:, _INT_SLOTS + 1], keep[:, _INT_SLOTS + 1] = _POINT, last > 0
    sep = np.full(a.shape, _COMMA, np.uint8)
    sep[:, -1] = _NEWLINE
    chars[:, -1], keep[:, -1] = sep.ravel(), True
    return chars[keep].tobytes()


def write_matrix(
    fh: TextIO, data: np.ndarray, fallback_fmt: str, rows_per_block: int = 256
) -> None:
    """Write ``data`` to the text file ``fh`` as CSV, a block of rows at a time (bounded
    memory); blocks :func:`format_rows` cannot write go through ``np.savetxt`` with
    ``fallback_fmt``."""
    for start in range(0, data.shape[0], rows_per_block):
        block = data[start : start + rows_per_block]
        text = format_rows(block)
        if text is None:
            np.savetxt(fh, block.astype(np.float64), fmt=fallback_fmt, delimiter=",")
        else:
            fh.write(text.decode("ascii"))
