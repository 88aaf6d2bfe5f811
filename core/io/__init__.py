"""Reading SEM images and writing depth maps.

``read_sem`` (TIFF/PNG/JPEG/BMP with vendor metadata and data-bar removal),
``read_depth``, the :class:`SemReadError` family, atomic output and the
depth-map writers (float32 ImageJ TIFF, CSV, 8-bit PNG, colour-mapped PNG).
"""

from core.io.atomic import OutputExistsError, atomic_write
from core.io.errors import (
    CorruptFileError,
    EmptyFileError,
    ImageTooLargeError,
    ImageTooSmallError,
    InvalidPixelsError,
    MultiPageWarning,
    NotAFileError,
    SemFileNotFoundError,
    SemReadError,
    TruncatedFileError,
    UnsupportedFormatError,
)
from core.io.image import SemImage
from core.io.reader import DEFAULT_MAX_PIXELS, peek_shape, read_depth, read_sem
from core.io.writers import (
    read_depth_tiff,
    write_colormap_png,
    write_depth_csv,
    write_depth_png,
    write_depth_tiff,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "CorruptFileError",
    "EmptyFileError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "InvalidPixelsError",
    "MultiPageWarning",
    "NotAFileError",
    "OutputExistsError",
    "SemFileNotFoundError",
    "SemImage",
    "SemReadError",
    "TruncatedFileError",
    "UnsupportedFormatError",
    "atomic_write",
    "peek_shape",
    "read_depth",
    "read_depth_tiff",
    "read_sem",
    "write_colormap_png",
    "write_depth_csv",
    "write_depth_png",
    "write_depth_tiff",
]
