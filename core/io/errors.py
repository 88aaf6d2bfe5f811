"""Errors raised while reading SEM images and depth maps.

Every error is a :class:`SemReadError` subclass whose message starts with the
file path followed by the cause, so a batch log line or a GUI dialog can show
``str(error)`` as is. Third-party exceptions (tifffile, Pillow, imagecodecs,
numpy) never escape the reader: they are wrapped and kept as ``__cause__``.
"""

from __future__ import annotations

from pathlib import Path


class SemReadError(Exception):
    """A file could not be read as an SEM image; ``str(e)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self.reason = reason
        where = str(self.path) if self.path is not None else "<array>"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[SemReadError], tuple[Path | None, str]]:
        # keep errors picklable (batch workers may run in other processes)
        return (type(self), (self.path, self.reason))


class SemFileNotFoundError(SemReadError):
    """The path does not exist."""


class NotAFileError(SemReadError):
    """The path exists but is a directory or another non-regular file."""


class EmptyFileError(SemReadError):
    """The file has zero bytes."""


class CorruptFileError(SemReadError):
    """The file has a known image signature but its structure or data cannot be decoded."""


class TruncatedFileError(CorruptFileError):
    """The file ends before all of its pixel data (a cut-off download or copy)."""


class UnsupportedFormatError(SemReadError):
    """The content is not a supported image type (decided by magic bytes, not the extension),
    or it uses a feature this reader does not handle (compression, colour space, layout)."""


class ImageTooSmallError(SemReadError):
    """The image is smaller than the minimum size (8 x 8 px)."""


class ImageTooLargeError(SemReadError):
    """The image has more pixels than allowed (checked from the header before decoding)."""


class InvalidPixelsError(SemReadError):
    """The pixel values are unusable, e.g. NaN or infinite values in a float image."""


class MultiPageWarning(UserWarning):
    """A multi-page TIFF was read: only its first page is used."""
