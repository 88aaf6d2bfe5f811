"""``calibrate()`` end to end on a tiny model and six small images (core/calibrate/run.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.calibrate import CalibrationError, CalibrationRequest, calibrate
from core.calibrate import run as run_mod
from core.calibrate.images import find_images, images_hash
from core.inference import Predictor
from core.io import read_sem
from core.models import load_checkpoint, read_card
from core.progress import Cancelled, CancelToken

from .conftest import AVERAGES, POINTS, write_csv


def request(model: Path, images: Path, tmp: Path, **kw: object) -> CalibrationRequest:
    base: dict[str, object] = {"budget_s": 0.4, "folds": 3, "anchor": "none"}
    base.update(kw)
    return CalibrationRequest(model=model, images=images, out=tmp / "cal.safetensors", **base)  # type: ignore[arg-type]


def _means(model: torch.nn.Module, paths: list[Path]) -> list[float]:
    x = torch.from_numpy(np.stack([read_sem(p).normalized() for p in paths]).astype(np.float32))
    with torch.no_grad():
        return model.eval()(x[:, None]).mean(dim=(1, 2, 3)).tolist()


def test_calibrate_with_averages_and_points(model_path: Path, images: Path, tmp_path: Path) -> None:
    source_bytes = model_path.read_bytes()
    losses: list[dict[str, float]] = []
    req = request(
        model_path, images, tmp_path,
        averages_csv=write_csv(tmp_path / "avg.csv", AVERAGES),
        references_csv=write_csv(tmp_path / "pts.csv", POINTS),
    )  # fmt: skip
    res = calibrate(req, on_loss=losses.append)
    card = read_card(res.out)  # validated on the way in
    cal = card["calibration"]
    assert cal == res.section
    assert cal["images"] == {
        "folder": str(images.resolve()), "count": 6, "sha256": images_hash(find_images(images)),
    }  # fmt: skip
    assert (cal["averages"]["count"], cal["averages"]["images"]) == (4, 6)
    assert cal["references"]["count"] == 3
    # a/b/site_1 averages share images with a point each; site_2 stands alone: 4 groups
    assert (cal["crossval"]["folds"], cal["crossval"]["groups"]) == (3, 4)
    assert cal["source_model"]["id"] == "unet-source000000" != card["id"]
    assert cal["budget_s"] == 0.4 and cal["steps"] == len(losses) >= 2
    assert cal["agreement"]["averages"]["before"]["n"] == 4
    assert cal["agreement"]["points"]["after"]["n"] == 3
    assert all("loss" in row for row in losses)
    # with point references the reference stage keeps the maps near its start's
    assert any("keep" in row for row in losses) and "keep" not in losses[0]
    assert cv_keep(card) == run_mod.POINT_KEEP_WEIGHT
    # "before" is the source model as it is: the mean of its maps
    source, _ = load_checkpoint(model_path)
    avg = [r for r in res.references if r.kind == "average"]
    want = [
        np.mean(_means(source, [images / "a_itr0.png", images / "a_itr1.png"])),
        np.mean(_means(source, [images / "b_itr0.png", images / "b_itr1.png"])),
        *_means(source, [images / "site_1" / "c_itr0.png", images / "site_2" / "c_itr0.png"]),
    ]
    assert [r.before for r in avg] == pytest.approx(want, abs=1e-3)
    assert [r.value for r in avg] == [150.0, 140.0, 145.5, 130.0]
    # "after" is the chosen way's held-out prediction: its weighted RMSE is the recorded one
    cv = cal["crossval"]
    assert cv["heldout_rmse_du"][cv["chosen"]] == min(cv["heldout_rmse_du"].values())
    pts = [r for r in res.references if r.kind == "point"]
    mse = [np.mean([(r.after - r.value) ** 2 for r in avg]),
           np.mean([((r.after - r.value) / 0.5) ** 2 for r in pts])]  # fmt: skip
    assert np.sqrt(np.mean(mse)) == pytest.approx(cv["heldout_rmse_du"][cv["chosen"]], abs=1e-3)
    # the start of the reference stage: the best agreeing of three models no reference trained
    assert cv["base"] == min(cv["base_rmse_du"], key=cv["base_rmse_du"].get)
    before = [np.mean([(r.before - r.value) ** 2 for r in avg]),
              np.mean([((r.before - r.value) / 0.5) ** 2 for r in pts])]  # fmt: skip
    assert np.sqrt(np.mean(before)) == pytest.approx(cv["base_rmse_du"]["source"], abs=1e-3)
    # an ordinary checkpoint: semdepth predict's Predictor uses it; the source is untouched
    out = Predictor.from_checkpoint(res.out, device="cpu").predict(images / "a_itr0.png")
    assert out.depth.shape == (72, 48) and out.model_id == card["id"]
    assert model_path.read_bytes() == source_bytes


def cv_keep(card: dict[str, object]) -> float:
    cv = card["calibration"]["crossval"]  # type: ignore[index]
    return float(cv["keep_weight"])


def test_images_only(model_path: Path, images: Path, tmp_path: Path) -> None:
    res = calibrate(request(model_path, images, tmp_path))
    cal = res.section
    assert cal["agreement"] == {} and cal["crossval"] is None and res.references == []
    assert cal["averages"] is None and cal["references"] is None
    assert cal["correction"]["name"] == "none"
    assert cal["method"] == "images: masked reconstruction + no simulator anchor + AdaBN"
    calibrated, _ = load_checkpoint(res.out)
    source, _ = load_checkpoint(model_path)
    # AdaBN at least: the batch-norm statistics are the images' now
    assert not torch.equal(calibrated.state_dict()["inc.1.running_mean"],
                           source.state_dict()["inc.1.running_mean"])  # fmt: skip


def test_the_anchor_is_rendered_from_the_simulator(
    model_path: Path, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_mod, "ANCHOR_STRUCTURES", 2)
    losses: list[dict[str, float]] = []
    res = calibrate(request(model_path, images, tmp_path, anchor="analytic"), on_loss=losses.append)
    assert res.section["anchor"] == ["analytic"]
    assert "simulator anchor (analytic)" in res.section["method"]
    assert all("anchor" in row and "masked" in row for row in losses)


def test_cancel_from_another_thread_writes_nothing(
    model_path: Path, images: Path, tmp_path: Path
) -> None:
    token = CancelToken()
    stepping = threading.Event()
    outcome: dict[str, BaseException] = {}
    req = request(model_path, images, tmp_path, budget_s=3600.0,
                  averages_csv=write_csv(tmp_path / "avg.csv", AVERAGES))  # fmt: skip

    def work() -> None:
        try:
            calibrate(req, cancel=token, on_loss=lambda _: stepping.set())
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    assert stepping.wait(300)  # the fine-tuning is running
    token.cancel()
    worker.join(300)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), Cancelled)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["avg.csv", "images", "models"]


@pytest.mark.parametrize(
    ("averages", "points", "message"),
    [
        ("image,average_depth_du\na,150\n", None, "avg.csv: a single reference cannot be"),
        (None, "image,x_px,y_px,depth_nm\na_itr0,24,36,20\na_itr0,20,30,5\n",
         "pts.csv: references on a single image or site cannot be"),
        (None, "image,x_px,y_px,depth_nm\na_itr0,24,36,20\nb,48,3,5\n",
         r"pts.csv: line 3: point \(48, 3\) is outside the 48x72 px image b_itr0.png"),
        ("image,average_depth_du\nzz,150\n", None, "avg.csv: 1 of 1 image names match no image"),
    ],
)  # fmt: skip
def test_inputs_that_cannot_support_a_calibration_are_refused(
    model_path: Path, images: Path, tmp_path: Path,
    averages: str | None, points: str | None, message: str,
) -> None:  # fmt: skip
    req = request(
        model_path, images, tmp_path,
        averages_csv=None if averages is None else write_csv(tmp_path / "avg.csv", averages),
        references_csv=None if points is None else write_csv(tmp_path / "pts.csv", points),
    )  # fmt: skip
    with pytest.raises(CalibrationError, match=message):
        calibrate(req)
    assert not (tmp_path / "cal.safetensors").exists()


def test_points_need_the_cards_depth_unit(images: Path, tmp_path: Path) -> None:
    from core.models import save_checkpoint

    from .conftest import tiny_model

    bare = save_checkpoint(tmp_path / "bare", tiny_model(), {"input": {"size": [72, 48]}})
    req = request(bare, images, tmp_path,
                  references_csv=write_csv(tmp_path / "pts.csv", POINTS))  # fmt: skip
    with pytest.raises(CalibrationError, match=r"no output\.nm_per_depth_unit"):
        calibrate(req)


def test_request_settings_are_checked(model_path: Path, images: Path, tmp_path: Path) -> None:
    for kw, message in (
        ({"budget_s": 0}, "budget 0 s: must be > 0"),
        ({"budget_s": float("nan")}, "not a finite number"),
        ({"folds": 1}, "folds 1: must be 2..20"),
        ({"anchor": "sparkle"}, "anchor 'sparkle': unknown contrast family"),
    ):
        with pytest.raises(CalibrationError, match=message):
            request(model_path, images, tmp_path, **kw)
    (tmp_path / "cal.safetensors").write_bytes(b"")
    with pytest.raises(CalibrationError, match=r"cal\.safetensors: exists"):
        request(model_path, images, tmp_path).check_paths()
    with pytest.raises(CalibrationError, match="would replace the model"):
        CalibrationRequest(model=model_path, images=images, out=model_path).check_paths()
    assert request(model_path, images, tmp_path, anchor="auto").anchor_families(
        {"training": {"data": {"families": ["charging"]}}}
    ) == ["charging"]
