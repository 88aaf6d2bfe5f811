"""Smoke test of the frozen desktop build in dist/semdepth (``make dist`` first).

Slow and skipped unless the build exists: ``python -m pytest -m slow tests/test_frozen_build.py``
(about 20 s). The executables run headless (Qt offscreen) with settings in a temporary
folder. ``SEMDEPTH_SMOKE_MODEL=path.safetensors`` tests with that model instead of the
bundled default (for a build made with ``SEMDEPTH_ALLOW_NO_MODEL=1``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import __version__
from core.io import read_depth_tiff

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist" / "semdepth"
SUFFIX = ".exe" if sys.platform == "win32" else ""
GUI = DIST / f"semdepth-gui{SUFFIX}"
CLI = DIST / f"semdepth{SUFFIX}"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (GUI.is_file() and CLI.is_file()), reason="no build: run make dist"),
]


def _model_args() -> list[str]:
    model = os.environ.get("SEMDEPTH_SMOKE_MODEL")
    return ["--model", model] if model else []


def _env(tmp_path: Path) -> dict[str, str]:
    """Headless Qt, user folders in tmp_path, nothing of this Python leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(home),
        USERPROFILE=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_DATA_HOME=str(home / "data"),
    )
    return env


def _run(args: list[str], tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_cli_version(tmp_path: Path) -> None:
    done = _run([str(CLI), "--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"semdepth {__version__}"


def test_gui_self_test_passes_offscreen(tmp_path: Path) -> None:
    done = _run([str(GUI), "--self-test", *_model_args()], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "frozen build" in done.stdout
    assert "self-test passed (8 checks" in done.stdout  # 7 engine checks + the Qt check
    assert "platform offscreen" in done.stdout


def test_cli_self_test_writes_matching_tiff_and_csv(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run([str(CLI), "self-test", "--out", str(out), *_model_args()], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    depth, meta = read_depth_tiff(out / "selftest_depth.tif")
    assert depth.dtype == np.float32 and depth.shape == (72, 48)  # the hole_1.png sample
    assert np.isfinite(depth).all() and meta["value_unit"] == "DU"
    csv = np.loadtxt(out / "selftest_depth.csv", comments="#", delimiter=",")
    np.testing.assert_array_equal(csv.astype(np.float32), depth)


def test_self_test_fails_clearly_without_a_model(tmp_path: Path) -> None:
    missing = tmp_path / "missing.safetensors"
    done = _run([str(CLI), "self-test", "--model", str(missing)], tmp_path)
    assert done.returncode == 1
    assert f"{missing}: model file not found" in done.stdout


def test_engine_ray_is_left_out_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    done = _run([str(CLI), "predict", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                 "--engine", "ray"], tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert "--engine ray needs Ray, which is not installed" in done.stderr
    assert not any((DIST / "_internal").glob("ray*"))


def test_gui_starts_and_keeps_running(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(GUI), *_model_args()],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        alive = proc.poll() is None
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert alive, f"the window exited early (code {proc.returncode}): {err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]


def test_licences_file_lists_pyside6_as_lgpl() -> None:
    text = (DIST / "THIRD_PARTY_LICENSES.md").read_text(encoding="utf-8")
    assert "| PySide6 (PySide6_Essentials) |" in text and "LGPL-3.0" in text
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in text
    # the Qt libraries stay separate, replaceable files
    assert any((DIST / "_internal" / "PySide6").rglob("*Qt6Core*"))
