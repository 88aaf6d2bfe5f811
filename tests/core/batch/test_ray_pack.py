"""What travels back from a Ray worker (no Ray needed): results and failures arrive as the
local engine would record them; ``--engine ray`` without Ray says how to install it."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.batch.ray_engine import INSTALL_HINT, pack, unpack
from core.batch.runner import capture_failure
from core.inference import PredictionResult, Predictor, ScaleSkipped
from core.io import SemReadError
from tests.core.batch.helpers import png


class _Odd(Exception):
    def __init__(self, a: int, b: int) -> None:  # cannot be rebuilt from its args
        super().__init__(f"odd {a} {b}")


def _error_of(work: Callable[[], object]) -> str | None:
    """The ``error`` column capture_failure gives what ``work`` raises."""

    class Item:
        status, error, seconds = "failed", None, 0.0

    item = Item()
    with capture_failure(item, Path("x.png"), logging.getLogger("test")):
        work()
    return item.error


@pytest.mark.parametrize(
    "exc",
    [
        SemReadError("/data/a.png", "the file is empty"),
        ValueError("bad value"),
        OSError(28, "No space left on device"),
        RuntimeError("boom"),
        _Odd(1, 2),
    ],
)
def test_a_failure_keeps_the_text_of_the_local_engine(exc: Exception) -> None:
    def local() -> None:
        raise exc

    assert _error_of(lambda: unpack(pack(exc))) == _error_of(local) is not None


def test_a_skip_keeps_its_decision(tiny_predictor: Predictor) -> None:
    from core.io import SemImage

    tiny_predictor.input_pixel_size_nm = 2.0
    img = SemImage.from_array(np.zeros((120, 100), np.uint8), pixel_size_nm=80.0)
    (skipped,) = tiny_predictor.predict_many([img], scale_policy="skip")
    assert isinstance(skipped, ScaleSkipped)
    with pytest.raises(ScaleSkipped) as info:
        unpack(pack(skipped))
    assert str(info.value) == str(skipped) and info.value.decision == skipped.decision


def test_a_result_comes_back_whole(tmp_path: Path, tiny_predictor: Predictor) -> None:
    result = tiny_predictor.predict(png(tmp_path / "a.png"))
    back = unpack(pack(result))
    assert isinstance(back, PredictionResult)
    np.testing.assert_array_equal(back.depth, result.depth)
    assert back.description() == result.description()
    assert back.sem.path == result.sem.path


def test_engine_ray_without_ray_says_how_to_install_it(
    tmp_path: Path, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from core.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    argv = ["predict", str(png(tmp_path / "a.png")), "--out", str(tmp_path / "o")]
    assert main([*argv, "--model", str(tiny_checkpoint), "--engine", "ray", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--engine ray needs Ray, which is not installed" in err and INSTALL_HINT in err
    assert not (tmp_path / "o").exists()  # refused before the folder is touched
