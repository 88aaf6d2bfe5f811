"""``semdepth info``: text and JSON output, exit status 1 when any file fails."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from core.cli import main

from .helpers import ramp


def test_info_text(tmp_path, capsys):
    path = tmp_path / "a.png"
    Image.fromarray(ramp(32, 48)).save(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "32 x 48 px" in out and "uint8" in out
    assert "pixel size:  unknown" in out and "0 rows removed" in out


def test_info_json_and_failures(tmp_path, capsys):
    good = tmp_path / "g.tif"
    import tifffile

    tifffile.imwrite(good, ramp(20, 30, np.uint16))
    missing = tmp_path / "missing.tif"
    rc = main(["info", "--json", str(good), str(missing)])
    assert rc == 1
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["rows"] == 20 and entries[0]["cols"] == 30
    assert entries[0]["dtype"] == "uint16" and entries[0]["bit_depth"] == 16
    assert entries[0]["pixel_size_nm"] is None and entries[0]["vendor"] is None
    assert entries[1]["error_type"] == "SemFileNotFoundError"
    assert entries[1]["error"].startswith(str(missing))


def test_info_error_to_stderr(tmp_path, capsys):
    empty = tmp_path / "e.bmp"
    empty.write_bytes(b"")
    assert main(["info", str(empty)]) == 1
    err = capsys.readouterr().err
    assert str(empty) in err and "empty" in err


def test_info_real_file(real_sem_dir, capsys):
    path = real_sem_dir / "odemis_delmic" / "tfs_example.tif"
    assert main(["info", "--json", "--metadata", str(path)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["vendor"] == "FEI/Thermo" and entry["databar_height"] == 68
    assert entry["rows"] == 1024 and abs(entry["pixel_size_nm"] - 269.792) < 1e-6
    assert entry["metadata"]["fei"]["System"]["SystemType"] == "Scios"


def test_info_multipage_warning(tmp_path, capsys):
    import tifffile

    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.stack([ramp(), ramp()]), photometric="minisblack")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 page(s)" in out and "warning:" in out
