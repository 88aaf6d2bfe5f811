"""What a Ray source whose actors write leaves to clean up after a stop, without Ray: the
files it heard of, and the files of inputs never recorded that were written since the job
began (an actor stopped mid-call sends nothing back), never an older set."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.batch.ray_engine import RayOptions, RaySource
from core.batch.remote import PredictorSpec


def _spec(out: Path) -> PredictorSpec:
    return PredictorSpec(
        model={}, denoiser=None, device="cpu", fast_path="fp32", batch_size=None, mode="auto",
        tta=True, scale_policy="auto", write={"out": str(out), "formats": ["tiff"]},
    )  # fmt: skip


def test_unrecorded_lists_only_this_jobs_files_of_inputs_not_taken(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    a, b, c = (tmp_path / f"{n}.png" for n in "abc")
    source = RaySource(_spec(out), RayOptions(workers=1))
    source.stems = {a: "a", b: "b", c: "c"}
    old = out / "c_depth.tif"  # an earlier run's set of an input not redone yet: kept
    old.write_bytes(b"old")
    past = time.time() - 3600
    os.utime(old, (past, past))
    source._todo = [(0, a), (1, b), (2, c)]
    source._started_at = time.time()
    (out / "a_depth.tif").write_bytes(b"new")  # recorded: the batch took it
    (out / "b_depth.tif").write_bytes(b"new")  # written by an actor, never recorded
    (out / "b_uncertainty.tif").write_bytes(b"new")
    heard = out / "c_depth8.png"  # a result that came back but was not taken
    heard.write_bytes(b"new")
    source.written[c] = [heard]
    source.forget(a)
    assert source.unrecorded() == sorted([out / "b_depth.tif", out / "b_uncertainty.tif", heard])
    # the driver writes: nothing is the source's to remove
    plain = RaySource(PredictorSpec(**{**_spec(out).__dict__, "write": None}), RayOptions())
    plain.stems = source.stems
    assert plain.unrecorded() == []
