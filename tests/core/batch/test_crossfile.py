"""run_batch(batch_files=N): the cross-file path writes the files and rows of the
one-at-a-time loop: bad files as rows, cancel, resume, other modes, the scale policy."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.batch import BatchItem, read_summary, run_batch
from core.batch.ahead import Ahead
from core.inference import Predictor
from core.progress import CancelToken
from tests.core.batch.compare import assert_same_outputs
from tests.core.batch.helpers import png, temp_files
from tests.core.inference.helpers import Times255, hole_field, predictor_for


def _inputs(folder: Path, n: int, *, bad: bool = True) -> Path:
    for i in range(n):
        shape = (72, 48) if i % 4 else (64, 40)
        png(folder / f"sub{i % 2}" / f"c{i:03d}.png", seed=i, shape=shape)
    if bad:
        (folder / "sub0" / "broken.png").write_bytes(b"\x89PNG not really")
        (folder / "sub1" / "empty.tif").write_bytes(b"")
    return folder


@pytest.mark.parametrize("exact", [True, False])
def test_the_same_files_and_rows_as_one_at_a_time(
    tmp_path: Path, tiny_checkpoint: Path, exact: bool
) -> None:
    src = _inputs(tmp_path / "in", 23)
    if exact:  # pointwise model: every path gives the same bits
        pred = predictor_for(Times255())
    else:  # a U-Net on fp32: the kernels may change with the pass size
        pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu", fast_path="fp32")
    one = run_batch([src], pred, tmp_path / "one", formats=("tiff", "csv", "png"))
    many = run_batch([src], pred, tmp_path / "many", formats=("tiff", "csv", "png"), batch_files=8)
    assert (many.n_done, many.n_failed) == (one.n_done, one.n_failed) == (23, 2)
    assert [i.source for i in many.items] == [i.source for i in one.items]
    assert_same_outputs(tmp_path / "one", tmp_path / "many", atol=0.0 if exact else 1e-3)
    rows = {Path(r["file"]).name: r for r in read_summary(tmp_path / "many" / "summary.csv")}
    assert rows["broken.png"]["status"] == "failed" and "broken.png" in rows["broken.png"]["error"]
    assert not temp_files(tmp_path / "many")


def test_field_images_and_the_skip_policy_take_their_own_path(tmp_path: Path) -> None:
    from core.io import write_depth_tiff

    src = tmp_path / "in"
    field, _ = hole_field()
    Image.fromarray(field).save(src.mkdir() or src / "field.png")
    png(src / "crop.png", seed=1)
    far = np.random.default_rng(0).integers(0, 256, (120, 100)).astype(np.float32)
    write_depth_tiff(src / "far.tif", far, pixel_size_nm=80.0)
    pred = predictor_for(Times255(), input={"size": [72, 48], "pixel_size_nm": 2.0})
    kw = {"formats": ("tiff", "csv"), "scale_policy": "skip"}
    run_batch([src], pred, tmp_path / "one", **kw)
    many = run_batch([src], pred, tmp_path / "many", batch_files=4, **kw)
    assert [i.status for i in many.items] == ["done", "skipped", "done"]
    assert [i.stats.get("mode") for i in many.items] == ["crop", None, "field"]
    assert_same_outputs(tmp_path / "one", tmp_path / "many")


def test_cancel_leaves_exactly_what_the_summary_lists(tmp_path: Path) -> None:
    src = _inputs(tmp_path / "in", 40, bad=False)
    token = CancelToken()

    def on_item(item: BatchItem) -> None:
        if item.index == 5:
            token.cancel()

    out = tmp_path / "out"
    summary = run_batch(
        [src], predictor_for(Times255()), out, formats=("tiff",), cancel=token,
        on_item=on_item, batch_files=8,
    )  # fmt: skip
    assert summary.cancelled and summary.n_done == 6
    rows = read_summary(out / "summary.csv")
    assert len(rows) == 6 and all(r["status"] == "done" for r in rows)
    listed = {name for r in rows for name in r["outputs"].split(";")}
    assert {p.name for p in out.glob("*.tif")} == listed  # nothing written beyond them
    assert not temp_files(out)
    # and --resume finishes it: the same folder as a run that was never stopped
    run_batch([src], predictor_for(Times255()), out, formats=("tiff",), resume=True, batch_files=8)
    run_batch([src], predictor_for(Times255()), tmp_path / "full", formats=("tiff",))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "full").iterdir()
    )
    assert len(read_summary(out / "summary.csv")) == 40


def test_progress_counts_every_file_in_order(tmp_path: Path) -> None:
    src = _inputs(tmp_path / "in", 9, bad=False)
    seen: list[int] = []
    run_batch(
        [src],
        predictor_for(Times255()),
        None,
        batch_files=4,
        progress=lambda p: seen.append(p.done) if p.inner is None else None,
    )
    assert seen == list(range(10))


def test_a_slow_loop_bounds_what_is_in_flight(tmp_path: Path) -> None:
    """The writer pool holds at most ``limit_items`` inputs the loop has not taken."""
    paths = {k: tmp_path / f"{k}.png" for k in range(20)}
    started = threading.Event()
    finished: list[int] = []

    def finish_item(index: int, path: Path, finish: object) -> BatchItem:
        finished.append(index)
        return BatchItem(index, path, "done", None, None, None, None, {}, 0.0)

    ahead = Ahead(finish_item, paths, limit_items=3)

    def feed() -> None:
        started.set()
        for k in paths:
            if not ahead.put(k, lambda: None):  # type: ignore[arg-type,return-value]
                return
        ahead.end()

    t = threading.Thread(target=feed)
    t.start()
    started.wait()
    t.join(0.5)
    assert t.is_alive() and len(finished) <= 3  # waits for the loop
    assert [ahead.take(k).index for k in paths] == list(paths)
    t.join(5)
    ahead.close()


def test_a_source_that_dies_fails_the_rest_as_rows(tmp_path: Path) -> None:
    """A source that stops early (a Ray cluster lost): what it handed over is written, the
    rest are failed rows naming why, and --resume predicts only those."""
    src = _inputs(tmp_path / "in", 6, bad=False)
    pred = predictor_for(Times255())

    class Dies:
        def start(self, todo: list[tuple[int, Path]], sink: Ahead) -> None:
            for index, path in todo[:2]:
                sink.put(index, lambda p=path: pred.predict(p))
            sink.end(RuntimeError("the Ray job failed: node lost"))

        def close(self) -> None:
            pass

    out = tmp_path / "out"
    summary = run_batch([src], pred, out, formats=("tiff",), source=Dies())
    assert (summary.n_done, summary.n_failed) == (2, 4)
    rows = read_summary(out / "summary.csv")
    assert [r["error"] for r in rows[2:]] == ["the Ray job failed: node lost"] * 4
    again = run_batch([src], pred, out, formats=("tiff",), resume=True, batch_files=4)
    assert (again.n_done, again.n_resumed) == (6, 2)
