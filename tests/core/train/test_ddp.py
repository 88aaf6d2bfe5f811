"""Data-parallel training under torchrun: two CPU processes (gloo) agree on the weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO = Path(__file__).resolve().parents[3]


def test_two_cpu_ranks_agree_on_the_weights(tiny_dacon: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        str(tiny_dacon),
        str(tmp_path / "run"),
        str(results),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0 = json.loads((results / "rank0.json").read_text())
    r1 = json.loads((results / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    assert r0["weights"] == r1["weights"]  # gradients were averaged over the ranks
    assert r0["weights"] != r0["init"]  # and training did change the weights
    # 12 training images over 2 ranks, 4 per step: 2 steps each
    assert r0["steps"] == 2
    run = tmp_path / "run"
    assert (run / "best.safetensors").is_file() and (run / "metrics.csv").is_file()
    assert not list(run.glob(".*.tmp"))  # only rank 0 wrote, no half-written files left
