"""Claiming a job's output folder (core/io/folders.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.io import OutputExistsError
from core.io.folders import RunFolderTakenError, check_folder_path, claim_run_folder


def test_claim_creates_refuses_and_clears_only_what_it_owns(tmp_path: Path) -> None:
    out = tmp_path / "a" / "run"
    claim_run_folder(out, ["w.bin", "m.csv"], overwrite=False)
    assert out.is_dir() and list(out.iterdir()) == []
    for name in ("m.csv", "w.bin", "curves.png", "mine.txt"):
        (out / name).write_text(name)
    with pytest.raises(RunFolderTakenError) as err:
        claim_run_folder(out, ["w.bin", "m.csv"], overwrite=False)
    assert err.value.present == [out / "w.bin", out / "m.csv"]  # in the owner's order
    assert str(err.value) == f"{out}: already holds w.bin, m.csv (pass overwrite to replace them)"
    assert isinstance(err.value, OutputExistsError)
    # overwrite: only the names in ``clear`` go; without ``create`` nothing is touched
    claim_run_folder(out, ["w.bin"], overwrite=True, clear=["w.bin", "curves.png"], create=False)
    assert (out / "w.bin").exists()
    claim_run_folder(out, ["w.bin"], overwrite=True, clear=["w.bin", "curves.png", "gone.txt"])
    assert sorted(p.name for p in out.iterdir()) == ["m.csv", "mine.txt"]


def test_a_file_in_the_folders_place_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "run"
    f.write_text("x")
    with pytest.raises(NotADirectoryError, match="run: exists and is not a folder"):
        claim_run_folder(f, [], overwrite=True)
    with pytest.raises(NotADirectoryError):
        check_folder_path(f)
    check_folder_path(tmp_path / "missing")  # a missing folder is fine
    assert f.read_text() == "x"
