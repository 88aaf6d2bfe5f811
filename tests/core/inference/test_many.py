"""Predictor.predict_many: crop-mode files stacked into shared forward passes give the
results of predict, one by one; a bad file keeps its own exception; other modes fall back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.inference import PredictionResult, Predictor, ScaleSkipped
from core.io import SemReadError
from core.progress import Cancelled, CancelToken
from tests.core.inference.helpers import hole_field, make_checkpoint


def _crops(folder: Path, n: int, *, shots: bool = False) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        shape = (72, 48) if i % 3 else (70, 45)  # two shapes: two stacks
        names = [f"c{i:03d}_itr0.png", f"c{i:03d}_itr1.png"] if shots else [f"c{i:03d}.png"]
        for name in names:
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / name)
        out.append(folder / names[0])
    return out


def _same(a: PredictionResult, b: PredictionResult, atol: float) -> None:
    assert a.mode == b.mode == "crop"
    np.testing.assert_allclose(a.depth, b.depth, atol=atol, rtol=0)
    np.testing.assert_allclose(a.uncertainty, b.uncertainty, atol=atol, rtol=0)
    assert a.settings == b.settings
    assert a.notes == b.notes
    assert a.trust is not None and b.trust is not None
    assert a.trust.as_dict() == b.trust.as_dict()


@pytest.mark.parametrize(
    ("fast_path", "shots", "augment"),
    [("fp32", False, True), ("fp32", True, False), ("bf16", True, True)],
)
def test_predict_many_equals_predict_one_at_a_time(
    tmp_path: Path, fast_path: str, shots: bool, augment: bool
) -> None:
    card = {} if augment else {"training": {"augment": False}}  # flips, or 1-px shifts
    ckpt = make_checkpoint(tmp_path / "m", **card)
    pred = Predictor.from_checkpoint(ckpt, device="cpu", fast_path=fast_path, batch_size=4)
    paths = _crops(tmp_path / "in", 7, shots=shots)
    many = pred.predict_many(paths)
    assert len(many) == len(paths)
    for path, got in zip(paths, many, strict=True):
        assert isinstance(got, PredictionResult), got
        # bf16: bit for bit; fp32 kernels may change with the pass size (1e-4 DU seen)
        _same(got, pred.predict(path), atol=0.0 if fast_path == "bf16" else 1e-3)
        assert got.settings["second_shot"] is not None if shots else True


def test_a_bad_file_keeps_its_exception_and_the_others_go_on(
    tmp_path: Path, tiny_predictor: Predictor
) -> None:
    paths = _crops(tmp_path / "in", 4)
    bad = tmp_path / "in" / "broken.png"
    bad.write_bytes(b"not a png")
    many = tiny_predictor.predict_many([paths[0], bad, tmp_path / "missing.png", *paths[1:]])
    assert isinstance(many[1], SemReadError) and "broken.png" in str(many[1])
    assert isinstance(many[2], Exception)
    good = [m for k, m in enumerate(many) if k not in (1, 2)]
    assert all(isinstance(m, PredictionResult) for m in good)


def test_other_modes_fall_back_to_their_own_runner(
    tmp_path: Path, tiny_predictor: Predictor
) -> None:
    field, _ = hole_field()
    crop = _crops(tmp_path / "in", 1)[0]
    many = tiny_predictor.predict_many([field, crop, field], mode="auto")
    assert [getattr(m, "mode", None) for m in many] == ["field", "crop", "field"]
    one = tiny_predictor.predict(field)
    assert isinstance(many[0], PredictionResult)
    np.testing.assert_allclose(many[0].depth, one.depth, atol=1e-4)
    assert many[0].holes is not None and len(many[0].holes) == len(one.holes or [])


def test_the_skip_policy_refuses_in_place(tiny_checkpoint: Path) -> None:
    from core.io import SemImage

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    pred.input_pixel_size_nm = 2.0
    rng = np.random.default_rng(0)
    far = SemImage.from_array(rng.integers(0, 256, (120, 100), dtype=np.uint8), pixel_size_nm=80.0)
    near = SemImage.from_array(rng.integers(0, 256, (72, 48), dtype=np.uint8), pixel_size_nm=2.0)
    many = pred.predict_many([near, far], scale_policy="skip")
    assert isinstance(many[0], PredictionResult)
    assert isinstance(many[1], ScaleSkipped) and many[1].decision.action == "skip"


def test_cancel_raises_for_all(tmp_path: Path, tiny_predictor: Predictor) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        tiny_predictor.predict_many(_crops(tmp_path / "in", 3), cancel=token)
    with pytest.raises(ValueError, match="unknown mode"):
        tiny_predictor.predict_many([], mode="nope")


def test_the_domain_features_of_many_crops_come_from_one_pass(tmp_path: Path) -> None:
    """A card whose domain check reads encoder features (the bundled default model): one
    feature pass per stack instead of one per file, the same verdicts."""
    from core.resources import default_model_path

    pred = Predictor.from_checkpoint(default_model_path(), device="cpu", fast_path="fp32")
    assert "features" in pred.trust.domain.signals
    paths = _crops(tmp_path / "in", 6)  # two shapes: 2 and 4 files
    calls: list[int] = []
    features = pred.features
    pred.features = lambda w: calls.append(len(w)) or features(w)  # type: ignore[method-assign]
    many = pred.predict_many(paths)
    assert sorted(calls) == [2, 4]  # one pass per stack, not one per file
    pred.features = features  # type: ignore[method-assign]
    for path, got in zip(paths, many, strict=True):
        assert isinstance(got, PredictionResult)
        one = pred.predict(path)
        np.testing.assert_allclose(got.depth, one.depth, atol=1e-3, rtol=0)
        assert got.trust is not None and one.trust is not None
        a, b = got.trust.domain, one.trust.domain
        assert a.in_domain == b.in_domain and a.reasons == b.reasons
        assert a.score == pytest.approx(b.score, rel=1e-5)
        assert a.checks["features"]["value"] == pytest.approx(
            b.checks["features"]["value"], rel=1e-4
        )
