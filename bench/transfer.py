"""Transfer to a new imaging condition: denoising, self-supervision and weak supervision.

Usage::

    python bench/transfer.py                 # full: 800 structures, 80 s/method (~15 min)
    python bench/transfer.py --budget 10 --structures 60 --no-doc --threads 1  # smoke (~2 min)

Protocol (simulator data, ``core.synth.write_dacon`` with noise-free renderings, cached
under the ignored ``scratch/bench_transfer/``): structures are split (seed 0) into 70 %
train, 10 % validation, 20 % test; no structure is in two parts. The depth model learns
with labels on the *source* imaging cases (default 1-3) of the train structures. The
*target* case (default 4: sharp probe, high detector offset and low gain, strong
scan-line noise and charging drift) of the train structures is available *without depth
maps* (and, for weak supervision, with one average depth per structure: the mean of its
depth map in DU, the analogue of DACON's ``average_depth.csv``). Every method is scored on
the target case of the held-out test structures (RMSE in DU, per image and pooled).

Methods, each given the same wall-clock ``--budget`` after the same source model:

* (a) the source model as is; (a+) the source model trained ``--budget`` longer on the
  source data (the control: is a gain due to the target data or to more training?);
* (b) Noise2Self denoiser trained on the target images, test inputs denoised, then the
  source model; (b') the report's pipeline: one denoiser for all images, the depth model
  re-trained on denoised source images (budget spent on both);
* (c) self-supervised fine-tuning on the target images with the source loss kept:
  masked reconstruction (Noise2Self-style, shared features), shot consistency, AdaBN;
* (d) weak supervision from per-structure average depth (+ AdaBN);
* (e) scikit-image denoisers (non-local means, TV, wavelet) before the source model;
* an oracle with target depth maps (not available in practice; the lower bound).

PSNR (dB, 0..1 intensity) of every denoiser is measured against the noise-free
renderings of the target test images. The table replaces the ``## Transfer to a new
imaging condition`` section of ``docs/benchmarks.md`` unless ``--no-doc`` or a smoke
budget (< 30 s).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from benchdoc import update_section  # noqa: E402
from torch import nn  # noqa: E402

from core.data import (  # noqa: E402
    DepthDataset,
    SampleRecord,
    find_dacon_pairs,
    split_by_structure,
)
from core.denoise import DenoiseTrainConfig, fit_denoiser  # noqa: E402
from core.metrics import MetricAccumulator  # noqa: E402
from core.models import create_model, get_preset  # noqa: E402
from core.models.noise2self import Noise2SelfDenoiser, psnr  # noqa: E402
from core.transfer import (  # noqa: E402
    FinetuneConfig,
    adapt_batchnorm,
    finetune,
)

SECTION = "## Transfer to a new imaging condition"
SYNTH_SEED = 20240521
DEFAULT_STRUCTURES = 800
DEFAULT_BUDGET_S = 80.0
SPLIT = {"val_fraction": 0.10, "test_fraction": 0.20, "seed": 0}
PRESET = "unet-2level"
SMOKE_BUDGET_S = 30.0


# --------------------------------------------------------------------------- data
def make_data(root: Path, n: int, seed: int) -> Path:
    from core.synth import write_dacon

    folder = root / f"data_s{n}_seed{seed}"
    if not (folder / "synth_meta.json").is_file():
        t0 = time.perf_counter()
        write_dacon(folder, n, seed, write_clean=True, overwrite=True)
        print(f"simulated {n} structures x 4 cases in {time.perf_counter() - t0:.0f} s")
    return folder


def clean_path(rec: SampleRecord) -> Path:
    """``simulation_data/SEM/Case_k/b/name_itrN.png`` -> ``SEM_clean/Case_k/b/name.png``."""
    sem = Path(rec.sem_path)
    sim = sem.parents[3]
    return sim / "SEM_clean" / str(rec.case) / str(rec.bucket) / f"{rec.structure}.png"


def sem01(ds: DepthDataset) -> np.ndarray:
    assert ds.sem_array is not None
    a = ds.sem_array
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


def depth_du(ds: DepthDataset) -> np.ndarray:
    assert ds.depth_array is not None
    return ds.depth_array[ds.depth_index].astype(np.float32)


# --------------------------------------------------------------------------- scoring
def predict(model: nn.Module, x01: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x01), batch):
            x = torch.from_numpy(np.ascontiguousarray(x01[i : i + batch]))[:, None]
            out.append(model(x).float()[:, 0].numpy())
    return np.concatenate(out)


def rmse(model: nn.Module, x01: np.ndarray, depth: np.ndarray) -> dict[str, float]:
    acc = MetricAccumulator()
    acc.add(predict(model, x01), depth)
    s = acc.summary()
    return {"rmse_per_image": s.rmse_per_image, "rmse_pooled": s.rmse_pooled}


def mean_psnr(est: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean([psnr(a, b) for a, b in zip(est, ref, strict=True)]))


# --------------------------------------------------------------------------- classical
def noise_sigma(img: np.ndarray) -> float:
    """Immerkaer's fast noise estimate (std of Gaussian noise), no PyWavelets needed."""
    from scipy.signal import convolve2d

    k = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    h, w = img.shape
    total = np.abs(convolve2d(img.astype(np.float64), k, mode="valid")).sum()
    return float(total * math.sqrt(0.5 * math.pi) / (6.0 * (w - 2) * (h - 2)))


def classical_denoisers() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """scikit-image denoisers with standard settings; the wavelet one needs PyWavelets and
    is left out (with a note) where it is missing."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    def nlm(img: np.ndarray) -> np.ndarray:
        s = noise_sigma(img)
        out = denoise_nl_means(
            img, h=0.8 * s, sigma=s, patch_size=3, patch_distance=5, fast_mode=True
        )
        return np.asarray(out, dtype=np.float32)

    def tv(img: np.ndarray) -> np.ndarray:
        return np.asarray(denoise_tv_chambolle(img, weight=0.08), dtype=np.float32)

    def wavelet(img: np.ndarray) -> np.ndarray:
        out = denoise_wavelet(img, method="BayesShrink", mode="soft", rescale_sigma=True)
        return np.asarray(np.clip(out, 0.0, 1.0), dtype=np.float32)

    out: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "non-local means": nlm,
        "total variation (Chambolle)": tv,
    }
    try:
        import pywt  # noqa: F401

        out["wavelet (BayesShrink)"] = wavelet
    except ImportError:
        print("PyWavelets is not installed: the wavelet denoiser is skipped")
    return out


# --------------------------------------------------------------------------- the benchmark
def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    budget = float(args.budget)
    sources = [f"Case_{int(c)}" for c in str(args.sources).split(",")]
    target = f"Case_{int(args.target)}"
    root = REPO / "scratch" / "bench_transfer"
    data = make_data(root, args.structures, SYNTH_SEED)
    records = find_dacon_pairs(data)
    split = split_by_structure(records, **SPLIT)  # type: ignore[arg-type]
    src_train = [r for r in split.train if r.case in sources]
    tgt_unlab_lab = [r for r in split.train if r.case == target]
    tgt_test = [r for r in split.test if r.case == target]

    t0 = time.perf_counter()
    ds_src = DepthDataset(src_train, augment=True)
    ds_tgt_lab = DepthDataset(tgt_unlab_lab)
    avg = {
        r.structure: float(d.mean())
        for r, d in zip(tgt_unlab_lab, depth_du(ds_tgt_lab), strict=True)
    }
    tgt_unlab = [
        dataclasses.replace(r, depth_path=None, average_depth=avg[r.structure])
        for r in tgt_unlab_lab
    ]
    ds_tgt = DepthDataset(tgt_unlab)
    ds_test = DepthDataset(tgt_test)
    x_test, y_test = sem01(ds_test), depth_du(ds_test)
    from core.io import read_sem

    clean_test = np.stack([read_sem(clean_path(r)).normalized() for r in tgt_test])
    case_test = {
        c: DepthDataset([r for r in split.test if r.case == c]) for c in [*sources, target]
    }
    print(
        f"data: {len(src_train)} labelled source images ({', '.join(sources)}), "
        f"{len(tgt_unlab)} unlabeled {target} images, {len(tgt_test)} {target} test images; "
        f"loaded in {time.perf_counter() - t0:.0f} s"
    )

    rows: list[dict[str, Any]] = []

    def add(
        key: str, label: str, model: nn.Module, x: np.ndarray, seconds: float, **kw: Any
    ) -> None:
        r = {
            "key": key,
            "method": label,
            "seconds": round(seconds, 1),
            **rmse(model, x, y_test),
            **kw,
        }
        rows.append(r)
        ps = "" if r.get("psnr") is None else f", PSNR {r['psnr']:.2f} dB"
        print(
            f"{label:60s} RMSE {r['rmse_per_image']:7.3f} DU (pooled {r['rmse_pooled']:.3f})"
            f"{ps}; {seconds:.0f} s",
            flush=True,
        )

    x_src, x_tgt = sem01(ds_src), sem01(ds_tgt)
    x_both = np.concatenate([x_src, x_tgt])

    def precise_bn(model: nn.Module, images: np.ndarray) -> float:
        """Batch-norm statistics of exactly the images the method trained on (the running
        averages lag behind the weights in short runs); returns the seconds it took."""
        t = time.perf_counter()
        adapt_batchnorm(model, images)
        return time.perf_counter() - t

    def ft(model: nn.Module, objective: str, **kw: Any) -> tuple[nn.Module, float]:
        cfg = FinetuneConfig(objective=objective, budget_s=budget, seed=0, **kw)
        res = finetune(
            model, tgt_unlab, source_records=src_train, config=cfg,
            target_dataset=ds_tgt, source_dataset=ds_src,
        )  # fmt: skip
        extra = precise_bn(res.model, x_src if objective == "none" else x_both)
        return res.model, res.seconds + extra

    # source model
    preset = get_preset(PRESET)
    torch.manual_seed(0)
    fresh = create_model("unet", **{**preset.generator, "base_width": args.base_width})
    res = finetune(
        fresh, [], source_records=src_train, source_dataset=ds_src,
        config=FinetuneConfig(objective="none", budget_s=budget, lr=preset.lr, seed=0),
    )  # fmt: skip
    source_raw = res.model
    source = copy.deepcopy(source_raw)
    t_source = res.seconds + precise_bn(source, x_src)
    per_case = {c: rmse(source, sem01(d), depth_du(d)) for c, d in case_test.items()}
    print(
        "source model, test RMSE per case:",
        {c: round(v["rmse_per_image"], 3) for c, v in per_case.items()},
    )
    noisy_psnr = mean_psnr(x_test, clean_test)
    add("a", "(a) source model as is", source, x_test, t_source, psnr=noisy_psnr, kind="baseline")
    add(
        "a-raw", "(a) with the running batch-norm averages of training (for reference)",
        source_raw, x_test, res.seconds, kind="control",
    )  # fmt: skip
    m, s = ft(source, "none", lr=args.lr)
    add("a+", "(a+) source model, trained longer on the source data", m, x_test, s, kind="control")

    # (b) Noise2Self on the target images
    dcfg = DenoiseTrainConfig(
        steps=10**9, time_budget_s=budget, batch_size=32, patch=64, device="cpu", seed=0
    )
    dres = fit_denoiser(list(x_tgt), dcfg)
    den = dres.denoiser
    x_den = den.denoise_batch(x_test)
    add(
        "b", "(b) Noise2Self denoiser (target images) + source model", source, x_den,
        dres.seconds, psnr=mean_psnr(x_den, clean_test), kind="self-supervised",
    )  # fmt: skip
    drows = DenoiseTrainConfig(
        steps=10**9, time_budget_s=budget, batch_size=32, patch=64, device="cpu", seed=0,
        pattern="rows",
    )  # fmt: skip
    dres_r = fit_denoiser(list(x_tgt), drows)
    x_den_r = dres_r.denoiser.denoise_batch(x_test)
    add(
        "b-rows", "(b) Noise2Self, whole-row masks (scan-line noise) + source model", source,
        x_den_r, dres_r.seconds, psnr=mean_psnr(x_den_r, clean_test), kind="self-supervised",
    )  # fmt: skip
    # (b') one denoiser for everything, depth model re-trained on denoised source images
    all_imgs = x_both
    dres_all = fit_denoiser(list(all_imgs), dataclasses.replace(dcfg, time_budget_s=budget / 2))
    den_all: Noise2SelfDenoiser = dres_all.denoiser
    t1 = time.perf_counter()
    ds_src_den = copy.copy(ds_src)
    ds_src_den.sem_array = np.concatenate(
        [den_all.denoise_batch(x_src[i : i + 512]) for i in range(0, len(ds_src), 512)]
    )
    t_prep = dres_all.seconds + time.perf_counter() - t1
    torch.manual_seed(0)
    fresh = create_model("unet", **{**preset.generator, "base_width": args.base_width})
    res_b2 = finetune(
        fresh, [], source_records=src_train, source_dataset=ds_src_den,
        config=FinetuneConfig(objective="none", budget_s=budget, lr=preset.lr, seed=0),
    )  # fmt: skip
    t_prep += precise_bn(res_b2.model, ds_src_den.sem_array)
    x_den_all = den_all.denoise_batch(x_test)
    add(
        "b'", "(b') denoise all images, depth model re-trained on denoised source", res_b2.model,
        x_den_all, t_prep + res_b2.seconds, psnr=mean_psnr(x_den_all, clean_test),
        kind="self-supervised",
    )  # fmt: skip

    # (c) self-supervised fine-tuning
    m, s = ft(source, "masked", lr=args.lr)
    add(
        "c-masked",
        "(c) fine-tune: masked reconstruction on target (+ source L1)",
        m,
        x_test,
        s,
        kind="self-supervised",
    )
    m_ad = copy.deepcopy(m)
    adapt_batchnorm(m_ad, x_tgt)
    add(
        "c-masked-adabn",
        "(c) masked reconstruction + AdaBN",
        m_ad,
        x_test,
        s,
        kind="self-supervised",
    )
    m, s = ft(source, "consistency", lr=args.lr)
    add(
        "c-consistency",
        "(c) fine-tune: shot + flip consistency on target (+ source L1)",
        m,
        x_test,
        s,
        kind="self-supervised",
    )
    t1 = time.perf_counter()
    m = copy.deepcopy(source)
    adapt_batchnorm(m, x_tgt)
    add(
        "c-adabn",
        "(c) AdaBN: batch-norm statistics of the target images",
        m,
        x_test,
        time.perf_counter() - t1,
        kind="self-supervised",
    )

    # (d) weak supervision
    m, s = ft(source, "average-depth", lr=args.lr)
    add(
        "d",
        "(d) weak supervision: per-structure average depth (+ source L1)",
        m,
        x_test,
        s,
        kind="weakly supervised",
    )
    m_ad = copy.deepcopy(m)
    adapt_batchnorm(m_ad, x_tgt)
    add("d-adabn", "(d) average depth + AdaBN", m_ad, x_test, s, kind="weakly supervised")

    # (e) classical denoisers
    for name, fn in classical_denoisers().items():
        t1 = time.perf_counter()
        xd = np.stack([fn(a) for a in x_test]).astype(np.float32)
        add(
            f"e-{name.split()[0]}", f"(e) {name} + source model", source, xd,
            time.perf_counter() - t1, psnr=mean_psnr(xd, clean_test), kind="classical",
        )  # fmt: skip

    # oracle
    if not args.no_oracle:
        ds_orc = DepthDataset([*src_train, *tgt_unlab_lab], augment=True)
        res_o = finetune(
            source, [], source_records=[*src_train, *tgt_unlab_lab], source_dataset=ds_orc,
            config=FinetuneConfig(objective="none", budget_s=budget, lr=args.lr, seed=0),
        )  # fmt: skip
        t_o = res_o.seconds + precise_bn(res_o.model, x_both)
        add(
            "oracle",
            "oracle: target depth maps (not available in practice)",
            res_o.model,
            x_test,
            t_o,
            kind="oracle",
        )

    base = rows[0]["rmse_per_image"]
    for r in rows:
        r["vs_a"] = r["rmse_per_image"] / base - 1.0
    return {
        "rows": rows,
        "per_case_source_model": per_case,
        "budget_s": budget,
        "structures": args.structures,
        "sources": sources,
        "target": target,
        "n": {
            "source_train": len(src_train),
            "target_unlabeled": len(tgt_unlab),
            "target_test": len(tgt_test),
        },
        "threads": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "torch": torch.__version__,
        "command": " ".join(["python", "bench/transfer.py", *sys.argv[1:]]),
        "preset": PRESET,
        "base_width": args.base_width,
    }


# --------------------------------------------------------------------------- report
def section(res: dict[str, Any]) -> str:
    rows = res["rows"]
    base = rows[0]["rmse_per_image"]
    lines = [
        f"`{res['command']}` ({res['machine']}, {res['threads']} threads, torch {res['torch']}).",
        "",
        f"Depth model: `{res['preset']}` generator (base width {res['base_width']}), trained "
        f"{res['budget_s']:.0f} s with labels on {', '.join(res['sources'])} "
        f"({res['n']['source_train']} images). Target: {res['target']}, "
        f"{res['n']['target_unlabeled']} images without depth maps (train structures), "
        f"scored on {res['n']['target_test']} images of held-out test structures. Every "
        f"method gets the same {res['budget_s']:.0f} s after the source model (the "
        "classical denoisers: the time to denoise the test images). RMSE in DU (0-255), "
        "per-image mean and pooled; PSNR in dB against the noise-free renderings (0..1); "
        "the PSNR of (a) is that of the noisy input. Batch-norm statistics of every model are "
        "re-estimated at the end on exactly the images its method trained on (source, or "
        "source + target); rows marked AdaBN use the target images only.",
        "",
        "Source model, test RMSE per imaging case (DU): "
        + ", ".join(
            f"{c} {v['rmse_per_image']:.2f}" for c, v in res["per_case_source_model"].items()
        )
        + ".",
        "",
        "| method | target RMSE / image (DU) | pooled (DU) | vs (a) | PSNR (dB) | time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p = r.get("psnr")
        lines.append(
            f"| {r['method']} | {r['rmse_per_image']:.3f} | {r['rmse_pooled']:.3f} "
            f"| {100 * r['vs_a']:+.1f} % | {'' if p is None else f'{p:.2f}'} | {r['seconds']:.0f} |"
        )
    candidates = [r for r in rows if r["kind"] in ("self-supervised", "weakly supervised")]
    best = min(candidates, key=lambda r: r["rmse_per_image"])
    gain = 1.0 - best["rmse_per_image"] / base
    control = next((r for r in rows if r["key"] == "a+"), None)
    lines.append("")
    if gain >= 0.20:
        lines.append(
            f"**Target met**: {best['method']} lowers the target-case RMSE by "
            f"{100 * gain:.1f} % against (a) ({base:.3f} -> {best['rmse_per_image']:.3f} DU)."
        )
    else:
        lines.append(
            f"**Target not met**: the best self-/weakly supervised method, {best['method']}, "
            f"changes the target-case RMSE by {-100 * gain:+.1f} % against (a) "
            f"({base:.3f} -> {best['rmse_per_image']:.3f} DU); the goal was -20 %."
        )
    if control is not None:
        lines.append(
            f"The control (a+) with the same extra budget on source data only: "
            f"{control['rmse_per_image']:.3f} DU ({100 * control['vs_a']:+.1f} %)."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds per method")
    ap.add_argument("--structures", type=int, default=DEFAULT_STRUCTURES)
    ap.add_argument("--sources", default="1,2,3", help="labelled imaging cases [1,2,3]")
    ap.add_argument("--target", type=int, default=4, help="unlabeled target case [4]")
    ap.add_argument("--lr", type=float, default=2e-4, help="fine-tuning learning rate [2e-4]")
    ap.add_argument("--base-width", type=int, default=32, help="depth U-Net base width [32]")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-oracle", action="store_true", help="skip the target-label oracle")
    ap.add_argument("--no-doc", action="store_true", help="do not touch docs/benchmarks.md")
    args = ap.parse_args(argv)
    res = run(args)
    out = REPO / "scratch" / "bench_transfer" / "results.json"
    out.write_text(json.dumps(res, indent=2, default=float), encoding="utf-8")
    body = section(res)
    print()
    print(body)
    if not args.no_doc and args.budget >= SMOKE_BUDGET_S:
        update_section(REPO / "docs" / "benchmarks.md", SECTION, body)
        print(f"\nupdated {SECTION!r} in docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
