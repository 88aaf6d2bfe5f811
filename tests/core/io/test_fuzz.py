"""Property test: random bytes and damaged real files never raise anything but SemReadError."""

from __future__ import annotations

import io
import itertools
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.io import SemReadError, read_sem

from .helpers import ramp

REAL = [
    "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif",  # palette, Zeiss CZ_SEM tag
    "rosettasciio/FEI-Helios-Ebeam-16bits.tif",  # 16-bit, FEI tag
    "odemis_delmic/jeol_example_sem.tif",  # LZW + predictor, palette
    "pytools_litho_analysis/test_stack1.jpg",  # JPEG with APP7 XML
]
MAGICS = [b"", b"II*\x00", b"MM\x00*", b"II+\x00", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM"]
_counter = itertools.count()


def _synthetic() -> list[bytes]:
    out = []
    for kwargs in ({}, {"compression": "zlib"}, {"compression": "lzw", "predictor": True}):
        buf = io.BytesIO()
        tifffile.imwrite(buf, ramp(24, 24, np.uint16), **kwargs)
        out.append(buf.getvalue())
    for fmt, im in (
        ("PNG", Image.fromarray(ramp(24, 24))),
        ("PNG", Image.fromarray(ramp(24, 24, np.uint16))),
        ("BMP", Image.fromarray(ramp(24, 24)).convert("P")),
        ("JPEG", Image.fromarray(ramp(24, 24))),
    ):
        buf = io.BytesIO()
        im.save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module")
def corpus(
    real_sem_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[bytes], Path]:
    folder = tmp_path_factory.mktemp("fuzz")
    files = []
    for name in REAL:  # copies: the shared folder is read-only and stays untouched
        copy = folder / Path(name).name
        shutil.copyfile(real_sem_dir / name, copy)
        files.append(copy.read_bytes())
    return files + _synthetic(), folder


def _check(data: bytes, folder: Path, suffix: str) -> None:
    path = folder / f"case_{next(_counter)}{suffix}"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = read_sem(path)
        assert img.pixels.dtype == np.float32 and img.pixels.ndim == 2
    except SemReadError as exc:
        assert str(exc).startswith(str(path))
    finally:
        path.unlink()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    magic=st.sampled_from(MAGICS),
    body=st.binary(max_size=600),
    suffix=st.sampled_from([".tif", ".png", ".jpg", ".bmp", ".dat"]),
)
def test_random_bytes(corpus, magic, body, suffix):
    _check(magic + body, corpus[1], suffix)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.integers(min_value=0, max_value=10),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans(), st.integers(0, 255)), max_size=8),
    cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
)
def test_mutated_files(corpus, which, flips, cut):
    files, folder = corpus
    data = bytearray(files[which % len(files)])
    for where, in_header, value in flips:
        span = min(len(data), 4096) if in_header else len(data)
        data[int(where * (span - 1))] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    _check(bytes(data), folder, ".tif")
