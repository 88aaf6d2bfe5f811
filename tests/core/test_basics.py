from __future__ import annotations

import threading

import pytest
import torch

from core.cli import main
from core.device import available_devices, resolve_device
from core.progress import Cancelled, CancelToken, Progress, report


def test_cancel_token_crosses_threads() -> None:
    token = CancelToken()
    token.raise_if_cancelled()  # not cancelled yet: no exception
    t = threading.Thread(target=token.cancel)
    t.start()
    t.join()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_report_calls_callback_with_fraction() -> None:
    got: list[Progress] = []
    report(got.append, 3, 12, "x")
    report(None, 1, 2)  # no callback: nothing happens
    assert got == [Progress(3, 12, "x")]
    assert got[0].fraction == 0.25


def test_resolve_device_auto_and_errors() -> None:
    dev = resolve_device("auto")
    avail = available_devices()
    expected = "cuda" if avail["cuda"] else "mps" if avail["mps"] else "cpu"
    assert dev.type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "semdepth 0.1.0" in capsys.readouterr().out


def test_cli_without_command_is_bad_arguments() -> None:
    assert main([]) == 2


def test_sample_images_skip_ground_truth() -> None:
    from core.resources import resources_dir, sample_images

    samples = sample_images()
    assert samples, "resources/samples holds no sample images"
    assert all(not p.stem.endswith("_depth") for p in samples)
    truths = list((resources_dir() / "samples").glob("*_depth.*"))
    assert truths and not set(truths) & set(samples)
