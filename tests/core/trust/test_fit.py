"""fit-trust on a tiny simulated data set with a tiny model: the sections, their
thresholds' promise on the held-out half, the new card's checkpoint and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.trust.fit import _thresholds


def test_common_quantile_threshold_flags_at_most_the_target() -> None:
    rng = np.random.default_rng(0)
    d = {"a": rng.random(400), "b": rng.random(400) * 10}
    th, q, rate = _thresholds(d, 0.05)
    flagged = (d["a"] > th["a"]) | (d["b"] > th["b"])
    assert flagged.mean() == pytest.approx(rate) and rate <= 0.05
    assert q >= 0.95  # two signals: each flags less than the target alone
    one, q1, _ = _thresholds({"a": d["a"]}, 0.05)
    assert q1 == pytest.approx(0.95) and one["a"] == pytest.approx(np.quantile(d["a"], 0.95))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from core.synth import write_dacon
    from tests.core.inference.helpers import make_checkpoint

    root = tmp_path_factory.mktemp("fit")
    write_dacon(root / "data", 16, seed=5, cases=[1], workers=1)  # 16 structures x 2 shots
    model = make_checkpoint(root / "models", pixel_size=None)
    return {"root": root, "data": root / "data", "model": model}


def test_fit_trust_cli_writes_a_new_card_and_leaves_the_original(fitted: dict[str, Path]) -> None:
    from core.cli import main
    from core.inference import Predictor
    from core.models import read_card

    out = fitted["root"] / "out" / "fitted.safetensors"
    before = fitted["model"].with_suffix(".json").read_bytes()
    argv = ["fit-trust", "--model", str(fitted["model"]), "--data", str(fitted["data"])]
    assert main([*argv, "--out", str(out), "-q", "--device", "cpu"]) == 0
    assert fitted["model"].with_suffix(".json").read_bytes() == before
    card = read_card(out)
    assert card["id"].startswith("tiny-test-unet+trust-")
    dom, unc = card["domain"], card["uncertainty"]
    assert set(dom["signals"]) >= {"image_stats", "features", "spread"}
    assert all(s["threshold"] > 0 for s in dom["signals"].values())
    assert dom["flag_rate_on_calibration"] <= dom["flag_rate_target"] == 0.025
    assert dom["data"]["n_images"] == 32 and len(dom["data"]["hash"]) == 64
    assert 0.05 <= dom["max_saturated"] <= 1.0  # at least the default limit
    assert set(unc["scales"]) >= {"depth", "below_top"}
    assert ("hole" in unc["scales"]) == (unc["n_holes"] >= 20)
    assert unc["tta"] == "flips" and unc["coverage"] == 0.95
    for s in unc["scales"].values():
        assert s["q"] > 0 and s["tau_du"] >= 0
    p = Predictor.from_checkpoint(out, device="cpu", fast_path="fp32")
    assert p.trust.domain.fitted and p.trust.calibration is not None
    again = main([*argv, "--out", str(out), "-q"])
    assert again == 2  # exists
    assert main([*argv, "--out", str(fitted["model"]), "--overwrite", "-q"]) == 2


def test_fitted_predictor_scores_its_calibration_images_mostly_in_domain(
    fitted: dict[str, Path],
) -> None:
    from core.data import find_records
    from core.inference import Predictor
    from core.trust.fit import fit_trust, write_fitted

    p = Predictor.from_checkpoint(fitted["model"], device="cpu", fast_path="fp32")
    recs = [r for r in find_records(fitted["data"]) if r.depth_path is not None]
    sections = fit_trust(p, recs, flag_rate=0.1)
    out = write_fitted(fitted["model"], fitted["root"] / "f2" / "m.safetensors", sections)
    fp = Predictor.from_checkpoint(out, device="cpu", fast_path="fp32")
    results = [fp.predict(r.sem_path, mode="crop", second_shot=None) for r in recs]
    flagged = np.mean([not r.in_domain for r in results])
    assert flagged <= 0.25  # half of them picked the thresholds at 10 %
    scores = [r.domain_score for r in results]
    assert all(s is not None and s > 0 for s in scores)
    # a blank and a noise image are flagged
    assert not fp.predict(np.full((72, 48), 9, np.uint8)).in_domain
    noise = np.random.default_rng(0).integers(0, 255, (72, 48)).astype(np.uint8)
    assert not fp.predict(noise).in_domain
    json.dumps(sections, allow_nan=False)


def test_too_few_images_is_refused(fitted: dict[str, Path]) -> None:
    from core.data import find_records
    from core.inference import Predictor
    from core.trust.fit import fit_trust

    p = Predictor.from_checkpoint(fitted["model"], device="cpu", fast_path="fp32")
    recs = [r for r in find_records(fitted["data"]) if r.depth_path is not None][:8]
    with pytest.raises(ValueError, match="at least 20 labelled images"):
        fit_trust(p, recs)
