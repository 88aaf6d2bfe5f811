"""How much of each model's error is a per-image offset (the top-surface level)?

The simulator draws each structure's top surface at 150-170 DU, which the SEM intensity
does not reveal; every model's absolute RMSE carries that offset. This script scores the
checkpoints of ``bench/accuracy.py`` (and the bundled default model) on the same test
split, as the absolute per-image RMSE and after removing each image's mean error
(relative depth: the shape of the hole below its surroundings).

    python bench/offset_free.py [--every 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.data import find_records, split_by_structure  # noqa: E402
from core.evaluate import load_model_any  # noqa: E402
from core.io import read_depth, read_sem  # noqa: E402

DATA = REPO / "scratch" / "bench_accuracy" / "data_seed20240917_n2400"
RUNS = REPO / "scratch" / "bench_accuracy" / "runs_n2400_b300"
MODELS = {
    "pix2pix-3level": RUNS / "pix2pix-3level" / "best.safetensors",
    "pix2pix-2level": RUNS / "pix2pix-2level" / "best.safetensors",
    "unet-3level": RUNS / "unet-3level" / "best.safetensors",
    "ours": RUNS / "ours" / "best.safetensors",
    "default model": REPO / "resources" / "models" / "default.safetensors",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="use every k-th test image [1]")
    args = ap.parse_args(argv)
    recs = [r for r in find_records(DATA) if r.depth_path is not None]
    test = split_by_structure(recs, val_fraction=0.10, test_fraction=0.15, seed=0).test
    test = test[:: args.every]
    x = np.stack([read_sem(r.sem_path, strip_databar=False).normalized() for r in test])
    gt = np.stack([read_depth(r.depth_path) for r in test])
    print(f"{len(test)} test images of {DATA.name}")
    print("| model | RMSE per image (DU) | offset removed (DU) | offset share of MSE |")
    print("|---|---:|---:|---:|")
    for name, path in MODELS.items():
        if not path.is_file():
            continue
        model, _ = load_model_any(path, device="cpu")
        model.eval()
        with torch.inference_mode():
            y = np.concatenate(
                [
                    model(torch.from_numpy(x[i : i + 256])[:, None]).numpy()[:, 0]
                    for i in range(0, len(x), 256)
                ]
            )
        err = (y - gt).astype(np.float64)
        mse = (err**2).mean(axis=(1, 2))
        rel = err - err.mean(axis=(1, 2), keepdims=True)
        mse0 = (rel**2).mean(axis=(1, 2))
        share = 1.0 - mse0.mean() / mse.mean()
        print(
            f"| {name} | {np.sqrt(mse).mean():.3f} | {np.sqrt(mse0).mean():.3f} "
            f"| {share * 100:.0f} % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
