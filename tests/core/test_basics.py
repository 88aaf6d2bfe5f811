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


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_resolve_device_auto_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    import core.device as device_mod

    monkeypatch.setattr(
        device_mod, "available_devices", lambda: {"cpu": True, "cuda": cuda, "mps": mps}
    )
    assert resolve_device("auto").type == expected
    assert resolve_device("AUTO").type == expected
    assert resolve_device("").type == expected


def test_resolve_device_explicit_names_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.device as device_mod

    monkeypatch.setattr(
        device_mod, "available_devices", lambda: {"cpu": True, "cuda": False, "mps": False}
    )
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="'cuda:1' is not available on this machine"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="'mps' is not available"):
        resolve_device("mps")


def test_available_devices_always_offers_the_cpu() -> None:
    avail = available_devices()
    assert avail["cpu"] is True
    assert set(avail) == {"cpu", "cuda", "mps"}


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
