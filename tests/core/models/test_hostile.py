"""Hostile model files refused early: every card of the corpus in ``hostile/`` and every
weights attack below is refused with one line naming the file, exit 2 from ``semdepth
predict`` before the output folder is touched, and a process that tries them all stays
under 500 MB at its peak (nothing is allocated for a refused file)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.inference.inputs import check_depth_model
from core.models import CheckpointError
from tests.core.inference.helpers import make_checkpoint

HOSTILE = Path(__file__).parent / "hostile"
REPO = Path(__file__).resolve().parents[3]

#: card -> what its one-line refusal says
CARDS = {
    "architecture_a_string.json": "model card has no architecture {name, config}",
    "base_width_100000.json": "base_width must be an integer 1..4096, got 100000",
    "base_width_512.json": "weights do not match the card's architecture unet (1.97 GB of",
    "base_width_float.json": "base_width must be an integer 1..4096, got 16.5",
    "input_size_huge.json": "has no valid input.size",
    "input_size_string.json": "has no valid input.size",
    "levels_1e999.json": "non-finite number at architecture.config.levels",
    "levels_7.json": "cannot build 'unet': levels must be 1..6, got 7",
    "levels_inf.json": "not valid JSON (non-finite number Infinity)",
    "levels_string.json": "levels must be an integer 1..8, got '3'",
    "levels_zero.json": "levels must be an integer 1..8, got 0",
    "nested_100000.json": "model card is not valid JSON (maximum recursion depth",
    "not_an_object.json": "model card is not a JSON object",
    "out_range_inf.json": "non-finite number at architecture.config.out_range[1]",
    "out_range_reversed.json": "out_range must be [low, high] with high > low",
    "pixel_size_nan.json": "not valid JSON (non-finite number NaN)",
    "task_denoise.json": "this is a 'denoise' model, not a depth model",
    "truncated_json.json": "model card is not valid JSON",
    "unknown_architecture.json": "unknown architecture 'os.system'",
    "wider_than_the_weights.json": "shape mismatch inc.0.weight: file [4, 1, 3, 3] F32 vs card",
    "widest_1024.json": "weights do not match the card's architecture unet (124 MB of",
    "wrong_format.json": "unknown model card format 1",
}


def test_the_corpus_is_covered() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.json")) == sorted(CARDS)


def _pair(tmp: Path, card: Path, weights: Path) -> Path:
    shutil.copy(weights, tmp / f"{card.stem}.safetensors")
    shutil.copy(card, tmp / card.name)
    return tmp / f"{card.stem}.safetensors"


def _header(weights: Path) -> tuple[int, dict[str, object]]:
    blob = weights.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return n, json.loads(blob[8 : 8 + n])


def _write_matching_sparse(path: Path, card: dict[str, object]) -> None:
    """Weights that match a (large) card exactly, written as a sparse file: a valid
    header, then zeros the file system does not store."""
    import torch

    from core.models import create_model

    arch = card["architecture"]
    assert isinstance(arch, dict)
    with torch.device("meta"):
        model = create_model(arch["name"], **arch["config"])
    header: dict[str, object] = {}
    pos = 0
    for k, v in sorted(model.state_dict().items()):
        dtype, size = ("I64", 8) if v.dtype == torch.int64 else ("F32", 4)
        n = v.numel() * size
        header[k] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [pos, pos + n]}
        pos += n
    text = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text)
    os.truncate(path, 8 + len(text) + pos)
    path.with_suffix(".json").write_text(json.dumps(card))


def _weights_attacks(tmp: Path, weights: Path) -> dict[Path, str]:
    """Weights files built here (too large to keep): -> what the refusal says."""
    out: dict[Path, str] = {}
    card = weights.with_suffix(".json")

    def copy(name: str) -> Path:
        p = tmp / f"{name}.safetensors"
        shutil.copy(weights, p)
        shutil.copy(card, p.with_suffix(".json"))
        return p

    padded = copy("padded_2gb")
    os.truncate(padded, 2 * 2**30)  # sparse: 2 GB long, almost nothing on disk
    out[padded] = "corrupt safetensors file (padded: the file has 2147483648 bytes"
    cut = copy("truncated")
    cut.write_bytes(cut.read_bytes()[:-100])
    out[cut] = "corrupt safetensors file (truncated"
    huge_header = copy("header_claims_a_terabyte")
    huge_header.write_bytes(struct.pack("<Q", 10**12) + huge_header.read_bytes()[8:])
    out[huge_header] = "its header claims 1000000000000 bytes"
    pickle = copy("a_pickle")
    pickle.write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    out[pickle] = "refusing a pickle"
    zipped = copy("a_zip")
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    out[zipped] = "refusing a zip archive"
    n, header = _header(weights)
    first = sorted(k for k in header if k != "__metadata__")[0]
    entry = header[first]
    assert isinstance(entry, dict)
    entry["data_offsets"] = [0, 10**15]
    lying = copy("offsets_out_of_the_file")
    text = json.dumps(header).encode()
    lying.write_bytes(struct.pack("<Q", len(text)) + text + weights.read_bytes()[8 + n :])
    out[lying] = f"tensor '{first}'"
    wide = json.loads(card.read_text())
    wide["architecture"]["config"].update(levels=5, base_width=32)  # 1024 channels
    _write_matching_sparse(tmp / "matching_but_1024_wide.safetensors", wide)
    out[tmp / "matching_but_1024_wide.safetensors"] = "asks for 1024 channels in one layer"
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> dict[Path, str]:
    weights = make_checkpoint(tmp_path / "src")
    files = {_pair(tmp_path, HOSTILE / name, weights): msg for name, msg in CARDS.items()}
    files.update(_weights_attacks(tmp_path, weights))
    return files


def test_every_hostile_file_is_refused_in_one_line_naming_it(corpus: dict[Path, str]) -> None:
    for weights, message in corpus.items():
        with pytest.raises(CheckpointError) as info:
            check_depth_model(weights)
        text = str(info.value)
        assert message in text, (weights.name, text)
        assert "\n" not in text
        assert text.startswith((str(weights), str(weights.with_suffix(".json"))))


def test_predict_exits_2_before_touching_the_output_folder(
    corpus: dict[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.core.batch.helpers import png

    image = png(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    for weights, message in corpus.items():
        assert main(["predict", str(image), "--out", str(out), "--model", str(weights)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (weights.name, err)
        assert "Traceback" not in err and not out.exists()


_TRY_ALL = """
import json, resource, sys
from core.inference import Predictor
from core.models import CheckpointError
refused = 0
for path in json.loads(sys.argv[1]):
    try:
        Predictor.from_checkpoint(path, device="cpu", fast_path="fp32")
    except CheckpointError:
        refused += 1
# ru_maxrss (KiB; bytes on macOS) keeps the parent's peak across fork + exec on Linux, so
# there the peak of this process image is VmHWM
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
peak_mb = peak / 2**20 if sys.platform == "darwin" else peak / 1024
try:
    with open("/proc/self/status") as fh:
        hwm = [ln for ln in fh if ln.startswith("VmHWM:")]
    peak_mb = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    pass
print(json.dumps({"refused": refused, "peak_mb": peak_mb}))
"""


def test_peak_memory_stays_under_500_mb_for_every_refused_file(corpus: dict[Path, str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    paths = json.dumps([str(p) for p in corpus])
    done = subprocess.run(
        [sys.executable, "-c", _TRY_ALL, paths],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["refused"] == len(corpus)
    assert result["peak_mb"] < 500, result
