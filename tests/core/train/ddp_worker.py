"""Run by ``torchrun`` in ``test_ddp.py``: train 1 epoch data-parallel, then write this
rank's weight digest to ``RESULTS/rank<r>.json``. Usage: ddp_worker.py DATA OUT RESULTS"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from core.models import create_model
from core.train import TrainConfig, train


def digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    data, out, results = (Path(a) for a in sys.argv[1:4])
    gen = {"base_width": 4}
    cfg = TrainConfig(
        preset="pix2pix-2level",
        data=data,
        out=out,
        epochs=1,
        batch_size=4,
        device="cpu",
        amp="off",
        channels_last="off",
        generator=gen,
        discriminator={"ndf": 4},
        d_every=1,
        val_fraction=0.25,
        seed=7,
    )
    res = train(cfg)
    assert res.model is not None
    torch.manual_seed(7)
    fresh = create_model("unet", **{**res.model.config})  # type: ignore[operator]
    rank = int(os.environ["RANK"])
    results.mkdir(parents=True, exist_ok=True)
    (results / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "weights": digest(res.model),
                "init": digest(fresh),
                "steps": res.history[-1].global_step if res.history else None,
                "world": int(os.environ["WORLD_SIZE"]),
            }
        )
    )


if __name__ == "__main__":
    main()
