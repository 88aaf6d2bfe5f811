"""The HTML reports: parsed back with html.parser, every keyed number compared with the
result; self-contained (no URL but data URIs), atomic, refusing to overwrite."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from core.report import write_report
from tests.core.inference.helpers import ShiftRight, hole_field, predictor_for
from tests.core.trust.test_assess import _uncertainty


class Keyed(HTMLParser):
    """Text of every element with a data-key; every src/href; the img data URIs."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.links: list[str] = []
        self._open: list[str | None] = []
        self._text: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for attr in ("src", "href"):
            if a.get(attr):
                self.links.append(str(a[attr]))
        key = a.get("data-key")
        if tag == "img" and key:
            self.values[key] = str(a.get("src"))
            return
        if tag in ("br", "meta", "img"):
            return
        self._open.append(key)
        if key:
            self._text[key] = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("br", "meta", "img") or not self._open:
            return
        key = self._open.pop()
        if key:
            self.values[key] = "".join(self._text.pop(key)).strip()

    def handle_data(self, data: str) -> None:
        for key in self._open:
            if key:
                self._text[key].append(data)


def parse(path: Path) -> Keyed:
    k = Keyed()
    k.feed(path.read_text(encoding="utf-8"))
    return k


def close(text: str, value: float, digits: int = 4) -> bool:
    return float(text) == pytest.approx(value, rel=10 ** (1 - digits), abs=1e-12)


@pytest.fixture(scope="module")
def field_result() -> Any:
    img, _ = hole_field((240, 320), seed=3)
    from core.io import SemImage

    sem = SemImage.from_array(img, pixel_size_nm=2.0, path="field.png")
    p = predictor_for(ShiftRight(), uncertainty=_uncertainty())
    p.input_pixel_size_nm = 2.0  # the model's scale: depths in nm need it
    p.nm_per_depth_unit = 0.5
    return p.predict(sem, mode="field")


def test_every_number_matches_the_result(tmp_path: Path, field_result: Any) -> None:
    from core import __version__

    r = field_result
    path = write_report(r, tmp_path / "r.html")
    k = parse(path)
    v = k.values
    assert v["software_version"] == __version__
    assert v["in_domain"] == str(r.in_domain).lower()
    assert v["domain_score"] == ""  # no domain section: not fitted
    assert v["calibrated"] == "true"
    assert close(v["mean_sigma_du"], float(np.mean(r.sigma)))
    assert close(v["mean_raw_du"], float(np.mean(r.uncertainty)))
    assert close(v["scale.depth.q"], 2.5) and close(v["scale.hole.tau_du"], 2.0)
    table = r.trust.holes
    assert table.depth_unit == "nm"
    assert int(v["n_holes"]) == len(table.holes) > 0
    for h in table.holes:
        row = h.as_row()
        for col in ("row_px", "col_px", "depth", "depth_u_k2", "top_cd_nm", "ellipticity"):
            want = row[col]
            got = v[f"hole.{h.id}.{col}"]
            assert (got == "") if want == "" else close(got, float(want)), (h.id, col)
        assert v[f"hole.{h.id}.flags"] == row["flags"]
    for q, s in table.stats.items():
        for f in ("count", "mean", "sigma", "three_sigma", "min", "max"):
            want = getattr(s, f)
            got = v[f"stats.{q}.{f}"]
            assert (got == "") if want is None else close(got, float(want)), (q, f)
    assert v["input.rows"] == "240" and v["input.cols"] == "320"
    assert close(v["input.pixel_size_nm"], 2.0)
    assert v["mode"] == "field"
    assert close(v["img.below_top.hi"], float(np.max(r.depth_below_top)))
    assert close(v["img.below_top.lo"], float(np.min(r.depth_below_top)))
    assert v["card.id"] == "tiny-test-unet"
    assert "Scale bar: 100 nm" in path.read_text(encoding="utf-8")  # 320 px x 2 nm / 5
    assert r.trust.statement in path.read_text(encoding="utf-8")


def test_the_report_is_self_contained_and_its_pictures_decode(
    tmp_path: Path, field_result: Any
) -> None:
    import base64
    import io

    path = write_report(field_result, tmp_path / "r.html")
    k = parse(path)
    assert k.links and all(link.startswith("data:image/png;base64,") for link in k.links)
    text = path.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for key in ("img.sem", "img.below_top", "img.sigma", "img.height", "img.spread"):
        png = base64.b64decode(k.values[key].split(",", 1)[1])
        assert Image.open(io.BytesIO(png)).size[0] > 100
    assert any(key.startswith("hist.") for key in k.values)


def test_atomic_and_refuses_to_overwrite(tmp_path: Path, field_result: Any) -> None:
    from core.io import OutputExistsError

    target = tmp_path / "r.html"
    target.write_text("mine")
    with pytest.raises(OutputExistsError):
        write_report(field_result, target)
    assert target.read_text() == "mine"
    write_report(field_result, target, overwrite=True)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_an_out_of_domain_report_says_so(tmp_path: Path) -> None:
    from core.io import SemImage

    sem = SemImage.from_array(np.full((72, 48), 128, np.uint8), path="blank.png")
    r = predictor_for(ShiftRight()).predict(sem, mode="crop")
    v = parse(write_report(r, tmp_path / "b.html")).values
    assert v["in_domain"] == "false"
    assert v["verdict"].startswith("OUT OF DOMAIN")
    assert v["domain_reason"].startswith("blank or constant image")
    assert v["calibrated"] == "false"
    assert "mean_sigma_du" not in v  # the uncalibrated report has no sigma rows


def test_batch_report_rows_match_the_summary(tmp_path: Path) -> None:
    from core.batch import read_summary, run_batch
    from core.batch.folder import OutputFolderError

    src = tmp_path / "in"
    src.mkdir()
    img, _ = hole_field((72, 48), pitch=(72, 48), radius=10.0)
    Image.fromarray(img).save(src / "a.png")
    Image.fromarray(np.full((72, 48), 7, np.uint8)).save(src / "b.png")
    out = tmp_path / "out"
    run_batch([src], predictor_for(ShiftRight()), out, formats=("report",), tta=True)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "a_report.html",
        "b_report.html",
        "manifest.jsonl",
        "report.html",
        "summary.csv",
    ]
    rows = read_summary(out / "summary.csv")
    k = parse(out / "report.html")
    v = k.values
    assert v["n_inputs"] == "2" and v["n_done"] == "2" and v["n_out_of_domain"] == "1"
    for i, row in enumerate(rows):
        assert v[f"row.{i}.in_domain"] == row["in_domain"]
        assert v[f"row.{i}.domain_reasons"] == row["domain_reasons"]
        assert v[f"row.{i}.depth_unit"] == row["depth_unit"]
    assert sorted(k.links) == ["a_report.html", "b_report.html"]
    # a second batch into the same folder is refused up front (the first report kept);
    # --resume keeps the finished inputs and rewrites the batch report over all of them
    first = (out / "report.html").read_bytes()
    with pytest.raises(OutputFolderError, match="--overwrite"):
        run_batch([src / "a.png"], predictor_for(ShiftRight()), out, formats=("report",))
    assert (out / "report.html").read_bytes() == first
    again = run_batch(
        [src], predictor_for(ShiftRight()), out, formats=("report",), resume=True, tta=True
    )
    assert (again.n_done, again.n_resumed) == (2, 2)
    assert not (out / "report_2.html").exists()
    assert parse(out / "report.html").values["n_inputs"] == "2"
