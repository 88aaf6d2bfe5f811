"""Predictions made in another process (a Ray actor, a local worker process) and what
travels back: :class:`PredictorSpec` (what a worker builds its predictor from: the model's
bytes, so the model file need not be on the worker's disk), :class:`PredictActor` (one
predictor, ``predict_many`` on a batch of paths), :func:`pack` / :func:`unpack` (one
input's result, or its failure with the ``error`` text the local engine would give).
Imports neither Ray nor anything the workers lack.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from core.inference import PredictionResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictorSpec:
    """What each worker builds its predictor from: the model's files (bytes: they travel
    with the job), the denoiser's, and the predictor and prediction settings."""

    model: dict[str, bytes]
    denoiser: dict[str, bytes] | None
    device: str
    fast_path: str
    batch_size: int | None
    mode: str
    tta: bool | str
    scale_policy: Any
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    #: where the worker writes each result's files itself (``{"out": folder, "formats":
    #: [...]}``, a folder every worker can reach), else None: the driver writes them
    write: dict[str, Any] | None = None

    @classmethod
    def from_files(
        cls, model: Path, denoiser: Path | None = None, **settings: Any
    ) -> PredictorSpec:
        return cls(
            _checkpoint_bytes(model), _checkpoint_bytes(denoiser) if denoiser else None, **settings
        )


def _checkpoint_bytes(path: Path) -> dict[str, bytes]:
    """The weights and card of a checkpoint, by file name."""
    weights = Path(path)
    card = weights.with_suffix(".json")
    files = {weights.name: weights.read_bytes()}
    if card.is_file():
        files[card.name] = card.read_bytes()
    return files


def _write_checkpoint(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder / next(n for n in files if not n.endswith(".json"))


class RemoteError(ValueError):
    """A worker's failure on one input, carried as the text the local engine would show."""


def failure_text(exc: BaseException) -> str:
    """The ``error`` column :func:`~core.batch.runner.capture_failure` gives ``exc``."""
    from core.io import SemReadError

    if isinstance(exc, SemReadError | FileExistsError | ValueError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def pack(outcome: PredictionResult | Exception) -> bytes:
    """One input's outcome as bytes for the trip back to the driver."""
    from core.inference import ScaleSkipped

    if isinstance(outcome, ScaleSkipped):
        return pickle.dumps(("skipped", str(outcome), outcome.decision), protocol=5)
    if isinstance(outcome, Exception):
        try:
            data = pickle.dumps(("error", outcome), protocol=5)
            pickle.loads(data)  # an exception that cannot come back goes as its text
            return data
        except Exception:
            return pickle.dumps(("error", RemoteError(failure_text(outcome))), protocol=5)
    return pickle.dumps(("done", outcome), protocol=5)


def unpack(data: bytes) -> PredictionResult:
    """The result :func:`pack` carried, or raise the failure it carried."""
    from core.inference import ScaleSkipped

    kind, *rest = pickle.loads(data)
    if kind == "skipped":
        raise ScaleSkipped(rest[0], rest[1])
    if kind == "error":
        raise rest[0]
    return rest[0]  # type: ignore[no-any-return]


class PredictActor:
    """A Ray Data actor: one predictor, built once from a :class:`PredictorSpec`; each call
    predicts a batch of inputs (``index``, ``path`` columns) and returns their ``index``
    and packed outcome (``payload``)."""

    def __init__(self, spec: PredictorSpec | list[Any]) -> None:
        import torch

        from core.inference import Predictor

        if isinstance(spec, list):  # [a reference into Ray's object store]
            import ray

            spec = ray.get(spec[0])
        assert isinstance(spec, PredictorSpec)

        torch.set_num_threads(max(1, spec.threads))
        self._dir = tempfile.TemporaryDirectory(prefix="semdepth-ray-")
        folder = Path(self._dir.name)
        model = _write_checkpoint(folder, spec.model)
        denoiser = None
        if spec.denoiser is not None:
            sub = folder / "denoiser"
            sub.mkdir()
            denoiser = _write_checkpoint(sub, spec.denoiser)
        self.predictor = Predictor.from_checkpoint(
            model, device=spec.device, fast_path=spec.fast_path, batch_size=spec.batch_size
        )
        if denoiser is not None:
            self.predictor.set_denoiser(denoiser)
        self.spec = spec

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        spec = self.spec
        outcomes = self.predictor.predict_many(
            [str(p) for p in batch["path"]],
            mode=spec.mode,
            tta=spec.tta,
            scale_policy=spec.scale_policy,
        )
        if spec.write is not None and "stem" in batch:
            outcomes = [
                write_here(o, spec.write, str(stem))
                for o, stem in zip(outcomes, batch["stem"], strict=True)
            ]
        payload = np.empty(len(outcomes), dtype=object)
        payload[:] = [pack(o) for o in outcomes]
        written = np.empty(len(outcomes), dtype=object)  # what this worker wrote, per input
        written[:] = [_written_files(o) for o in outcomes]
        return {
            "index": np.asarray(batch["index"], dtype=np.int64),
            "payload": payload,
            "written": written,
        }


def _written_files(outcome: PredictionResult | Exception) -> list[str]:
    files = None if isinstance(outcome, Exception) else outcome.written
    return [str(p) for p in files.values()] if files else []


def write_here(
    outcome: PredictionResult | Exception, write: dict[str, Any], stem: str
) -> PredictionResult | Exception:
    """Write a result's files in this (worker) process; the result comes back with
    ``written`` set, a write failure (a full disk) as the input's failure (its partial set
    removed by :func:`~core.batch.outputs.write_outputs`)."""
    from core.batch.outputs import write_outputs

    if isinstance(outcome, Exception):
        return outcome
    try:
        outcome.written = write_outputs(
            outcome, write["out"], formats=write["formats"], stem=stem, overwrite=True
        )
    except (OSError, ValueError) as exc:
        return exc
    return outcome


__all__ = [
    "PredictActor",
    "PredictorSpec",
    "RemoteError",
    "failure_text",
    "pack",
    "unpack",
    "write_here",
]
