"""What one training run is: :class:`TrainConfig`, its TOML file and the preset it resolves.

Settings come from a preset (:data:`core.models.PRESETS`) overridden by the config; a
config round-trips through TOML (:func:`load_config_toml` reads a ``[train]`` table or
top-level keys, :func:`dumps_toml` writes the run folder's ``config.toml``). A resumed run
must share :func:`fingerprint` with the run it continues.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shlex
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.models import Preset

AMP_CHOICES = ("auto", "bf16", "off")
SCHEDULES = ("constant", "cosine", "onecycle")
CHANNELS_LAST_CHOICES = ("auto", "on", "off")
OPTIMIZERS = ("adam", "adamw")
BASELINE_PRESET = "intensity-baseline"


class TrainError(ValueError):
    """A training set-up that cannot run (bad config, run folder in the way, resume mismatch)."""


@dataclass
class TrainConfig:
    """Everything one training run needs; ``None`` means "the preset's value".

    ``generator`` / ``discriminator`` override keys of the preset's network configs (for
    example ``{"base_width": 16}``); ``lambda_l1``, ``rmse_mode``, ``gan_mode`` and
    ``d_every`` override the preset's loss. ``time_budget_s`` bounds the wall-clock time
    of the training loop (validation included, data loading excluded). ``schedule``
    shapes the learning rate over the run (``constant`` as the report; ``cosine`` and
    ``onecycle`` follow the epochs or, when set, the time budget). ``beta1`` overrides the
    first Adam beta of the preset (pix2pix's 0.5 for GANs). ``ema`` keeps an
    exponential moving average of the generator's weights (decay per step) that is
    validated and saved instead of the raw weights. ``num_workers`` is accepted for
    symmetry with other trainers but unused: batches are sliced from preloaded arrays.
    ``augment`` flips images (and depth maps) whose mirror image the simulator could have
    drawn: not those of a fixed imaging case (the legacy cases' side detector sits on one
    side; ``core.data.record_flippable``) unless ``flip_fixed_detector``;
    ``intensity_augment`` changes each training image's gamma, gain, offset, blur and noise
    at random (``core.data.jitter_intensity``).
    ``optimizer``: ``adam`` (``weight_decay`` as an L2 term, as before) or ``adamw``
    (decoupled weight decay). ``families``: train only on the images of these contrast
    families of a simulated data set (its ``synth_images.csv``). A generator with
    ``variance_head = true`` also trains its sigma channel with the beta-NLL of ``nll_beta``
    on the detached depth (``core.models.losses.beta_nll``).
    """

    preset: str
    data: Path
    out: Path
    epochs: int = 50
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    early_stopping: int | None = None
    time_budget_s: float | None = None
    resume: bool = False
    overwrite: bool = False
    amp: str = "auto"
    channels_last: str = "auto"
    num_workers: int = 0
    augment: bool = True
    flip_fixed_detector: bool = False
    intensity_augment: bool = False
    schedule: str = "constant"
    warmup_fraction: float = 0.05
    beta1: float | None = None
    weight_decay: float = 0.0
    optimizer: str = "adam"
    ema: float | None = None
    grad_clip: float | None = None
    generator: dict[str, Any] = field(default_factory=dict)
    discriminator: dict[str, Any] = field(default_factory=dict)
    lambda_l1: float | None = None
    rmse_mode: str | None = None
    gan_mode: str | None = None
    d_every: int | None = None
    val_batch_size: int = 256
    families: list[str] | None = None
    nll_beta: float = 0.5
    command: str | None = None

    def __post_init__(self) -> None:
        self.data = Path(self.data)
        self.out = Path(self.out)
        self.generator = dict(self.generator or {})
        self.discriminator = dict(self.discriminator or {})
        if self.families is not None:
            self.families = [str(f) for f in self.families]
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> TrainError:
            return TrainError(f"training config: {msg}")

        if self.epochs < 1:
            raise bad(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise bad(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not (self.lr >= 0 and math.isfinite(self.lr)):
            raise bad(f"lr must be a finite number >= 0, got {self.lr}")
        for name in ("val_fraction", "test_fraction"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise bad(f"{name} must be in [0, 1), got {v}")
        if self.val_fraction <= 0:
            raise bad("val_fraction must be > 0: validation picks the best checkpoint")
        if self.val_fraction + self.test_fraction >= 1.0:
            raise bad("val_fraction + test_fraction must be < 1")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise bad(f"early_stopping must be >= 1 epoch, got {self.early_stopping}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise bad(f"time_budget_s must be > 0 seconds, got {self.time_budget_s}")
        if self.amp not in AMP_CHOICES:
            raise bad(f"amp must be one of {', '.join(AMP_CHOICES)}, got {self.amp!r}")
        if self.schedule not in SCHEDULES:
            raise bad(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.channels_last not in CHANNELS_LAST_CHOICES:
            raise bad(f"channels_last must be one of {', '.join(CHANNELS_LAST_CHOICES)}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise bad(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise bad(f"ema must be in (0, 1), got {self.ema}")
        if self.d_every is not None and self.d_every < 1:
            raise bad(f"d_every must be >= 1, got {self.d_every}")
        if self.val_batch_size < 1:
            raise bad(f"val_batch_size must be >= 1, got {self.val_batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise bad(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise bad(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if self.families is not None and not self.families:
            raise bad("families must name at least one contrast family (or be left out)")
        if not 0.0 <= self.nll_beta <= 1.0:
            raise bad(f"nll_beta must be in [0, 1], got {self.nll_beta}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = str(self.data)
        d["out"] = str(self.out)
        return d


_CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def config_from_mapping(values: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from a mapping (TOML keys may use ``-`` or ``_``); unknown
    keys are an error naming ``source``."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name == "time_budget":
            name = "time_budget_s"
        if name not in _CONFIG_FIELDS:
            raise TrainError(f"{source}: unknown setting {key!r}")
        clean[name] = value
    for name in ("preset", "data", "out"):
        if clean.get(name) in (None, ""):
            raise TrainError(f"{source}: {name!r} is required")
    try:
        return TrainConfig(**clean)
    except TypeError as exc:
        raise TrainError(f"{source}: {exc}") from exc


def load_config_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML file (a ``[train]`` table or top-level keys)."""
    path = Path(path)
    if not path.is_file():
        raise TrainError(f"{path}: config file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TrainError(f"{path}: not valid TOML ({exc})") from exc
    if "train" in data and isinstance(data["train"], dict):
        data = data["train"]
    data.pop("resolved", None)  # written by the trainer for information only
    data.pop("product_version", None)
    # relative paths in the file are relative to the file
    for key in ("data", "out"):
        if key in data and isinstance(data[key], str) and not Path(data[key]).is_absolute():
            data[key] = str(path.parent / data[key])
    return data


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, Path):
        v = str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v if x is not None) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any], _prefix: str = "") -> str:
    """A small TOML writer for nested dicts of scalars and lists (``None`` is left out)."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if value is None:
            continue
        k = key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
        if isinstance(value, Mapping):
            tables.append((f"{_prefix}{k}", value))
        else:
            lines.append(f"{k} = {_toml_value(value)}")
    out = "\n".join(lines)
    for name, table in tables:
        body = dumps_toml(table, f"{name}.")
        out += ("\n\n" if out else "") + f"[{name}]" + ("\n" + body if body else "")
    return out


def resolve_preset(config: TrainConfig) -> Preset:
    """The preset of ``config`` with its overrides (networks, loss, lr, batch size) applied."""
    from core.models import PRESETS

    if config.preset not in PRESETS:
        raise TrainError(
            f"unknown preset {config.preset!r}; choose one of "
            f"{', '.join([*sorted(PRESETS), BASELINE_PRESET])}"
        )
    p = PRESETS[config.preset]
    gen = {**p.generator, **config.generator}
    disc = None if p.discriminator is None else {**p.discriminator, **config.discriminator}
    if p.discriminator is None and config.discriminator:
        raise TrainError(f"preset {p.name!r} has no discriminator to configure")
    return dataclasses.replace(
        p,
        generator=gen,
        discriminator=disc,
        lambda_l1=p.lambda_l1 if config.lambda_l1 is None else float(config.lambda_l1),
        rmse_mode=p.rmse_mode if config.rmse_mode is None else config.rmse_mode,
        gan_mode=p.gan_mode if config.gan_mode is None else config.gan_mode,
        d_every=p.d_every if config.d_every is None else int(config.d_every),
        lr=p.lr if config.lr is None else float(config.lr),
        batch_size=p.batch_size if config.batch_size is None else int(config.batch_size),
    )


def fingerprint(config: TrainConfig, preset: Preset) -> dict[str, Any]:
    """Settings a resumed run must share with the run it continues."""
    return {
        "preset": config.preset,
        "generator": preset.generator,
        "discriminator": preset.discriminator,
        "batch_size": preset.batch_size,
        "seed": config.seed,
        "val_fraction": config.val_fraction,
        "test_fraction": config.test_fraction,
        "lambda_l1": preset.lambda_l1,
        "rmse_mode": preset.rmse_mode,
        "gan_mode": preset.gan_mode,
        "d_every": preset.d_every,
        "ema": config.ema,
        "betas": list(preset.betas) if config.beta1 is None else [config.beta1, preset.betas[1]],
    }


def default_command() -> str:
    """The command line of this process (recorded when a config names none)."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def jsonable(x: Any) -> Any:
    """``x`` as plain JSON data (paths and other objects as strings)."""
    return json.loads(json.dumps(x, default=str))
