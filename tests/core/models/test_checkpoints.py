"""safetensors + JSON card round trip, and every refusal names the file."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from core.models import (
    CARD_FORMAT,
    CheckpointError,
    PatchGAN,
    UNet,
    load_checkpoint,
    save_checkpoint,
)


def _trained_unet() -> UNet:
    torch.manual_seed(0)
    net = UNet(levels=2, base_width=4, norm="batch")
    net.train()
    net(torch.rand(4, 1, 16, 8))  # move the BatchNorm running statistics off their defaults
    return net


def test_round_trip_identical_outputs(tmp_path: Path) -> None:
    net = _trained_unet().eval()
    card = {"training": {"preset": "unet-2level"}, "metrics": {"val_rmse_pooled": 3.0}}
    weights = save_checkpoint(tmp_path / "model", net, card)
    assert weights == tmp_path / "model.safetensors"
    card_path = tmp_path / "model.json"
    saved = json.loads(card_path.read_text())
    assert saved["format"] == CARD_FORMAT
    assert saved["architecture"] == {"name": "unet", "config": net.config}
    assert saved["training"]["preset"] == "unet-2level" and saved["id"].startswith("unet-")
    assert "created" in saved and "product_version" in saved
    loaded, loaded_card = load_checkpoint(weights)
    assert not loaded.training and loaded_card == saved
    x = torch.rand(3, 1, 72, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    # the card path and the bare stem load the same model
    for p in (card_path, tmp_path / "model"):
        m, _ = load_checkpoint(p)
        with torch.no_grad():
            assert torch.equal(m(x), net(x))
    assert sorted(os.listdir(tmp_path)) == ["model.json", "model.safetensors"]  # no temp files


def test_patchgan_round_trip(tmp_path: Path) -> None:
    d = PatchGAN(ndf=8).eval()
    save_checkpoint(tmp_path / "d.safetensors", d, {})
    loaded, card = load_checkpoint(tmp_path / "d.safetensors")
    x = torch.rand(1, 2, 72, 48)
    with torch.no_grad():
        assert torch.equal(loaded(x), d(x))
    assert card["architecture"]["name"] == "patchgan"


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    net = _trained_unet()
    save_checkpoint(tmp_path / "m", net, {})
    before = (tmp_path / "m.safetensors").read_bytes()
    with pytest.raises(CheckpointError, match=r"m.safetensors: exists"):
        save_checkpoint(tmp_path / "m", UNet(levels=2, base_width=4), {})
    assert (tmp_path / "m.safetensors").read_bytes() == before
    save_checkpoint(tmp_path / "m", UNet(levels=2, base_width=4), {"id": "x"}, overwrite=True)
    assert json.loads((tmp_path / "m.json").read_text())["id"] == "x"


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Evil(marker))
    # sanity: this payload really would create the marker when unpickled
    pickle.loads(payload).close()
    assert marker.exists()
    marker.unlink()
    save_checkpoint(tmp_path / "good", _trained_unet(), {})
    card = (tmp_path / "good.json").read_text()
    for name in ("evil.pt", "evil.pth", "evil.pkl", "evil.ckpt", "evil.safetensors"):
        (tmp_path / name).write_bytes(payload)
        (tmp_path / name).with_suffix(".json").write_text(card)
        with pytest.raises(CheckpointError, match=r"refusing") as err:
            load_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
        assert not marker.exists()
    # a torch.save zip archive renamed to .safetensors is refused by content
    torch.save({"w": torch.zeros(1)}, tmp_path / "zip.safetensors")
    (tmp_path / "zip.json").write_text(card)
    with pytest.raises(CheckpointError, match=r"refusing a zip"):
        load_checkpoint(tmp_path / "zip.safetensors")


def _good(tmp_path: Path) -> Path:
    return save_checkpoint(tmp_path / "m", _trained_unet(), {})


def test_missing_and_malformed_card(tmp_path: Path) -> None:
    w = _good(tmp_path)
    card = tmp_path / "m.json"
    text = card.read_text()
    card.unlink()
    with pytest.raises(CheckpointError, match=r"m.json: model card not found"):
        load_checkpoint(w)
    card.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"m.json: model card is not valid JSON"):
        load_checkpoint(w)
    d = json.loads(text)
    d["format"] = "someone-else/3"
    card.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"unknown model card format 'someone-else/3'"):
        load_checkpoint(w)
    d = json.loads(text)
    d["architecture"]["name"] = "resnet"
    card.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"m.json: unknown architecture 'resnet'"):
        load_checkpoint(w)
    d = json.loads(text)
    d["architecture"]["config"]["levels"] = 3  # the weights are 2-level
    card.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"m.safetensors: weights do not match") as err:
        load_checkpoint(w)
    assert "missing keys" in str(err.value)
    d = json.loads(text)
    d["architecture"]["config"]["base_width"] = 8
    card.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"shape mismatch"):
        load_checkpoint(w)
    d = json.loads(text)
    d["architecture"]["config"]["bogus"] = 1
    card.write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"m.json: cannot build 'unet'"):
        load_checkpoint(w)


def test_missing_corrupt_and_unexpected_weights(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nothing.safetensors: weights file not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    w = _good(tmp_path)
    blob = w.read_bytes()
    w.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match=r"m.safetensors: corrupt safetensors"):
        load_checkpoint(w)
    w.write_bytes(b"hello world, not weights")
    with pytest.raises(CheckpointError, match=r"not a safetensors file"):
        load_checkpoint(w)
    # extra tensors in the file
    from safetensors.torch import save_file

    state = _trained_unet().state_dict()
    state["extra.weight"] = torch.zeros(2)
    save_file(state, str(w))
    with pytest.raises(CheckpointError, match=r"unexpected keys \['extra.weight'\]"):
        load_checkpoint(w)


def test_safetensors_header_length_starting_0x80_is_not_a_pickle(tmp_path: Path) -> None:
    """A header length whose low byte is 0x80 (1 file in 256) is still a valid safetensors."""
    import struct

    from safetensors.torch import load, save

    net = _trained_unet()
    path = save_checkpoint(tmp_path / "m.safetensors", net, {})
    state = load(path.read_bytes())
    # pad the header with metadata until its length's low byte is 0x80
    for pad in range(0, 600):
        blob = save(state, metadata={"pad": "x" * pad})
        if blob[0] == 0x80:
            break
    assert blob[0] == 0x80 and struct.unpack("<Q", blob[:8])[0] % 256 == 0x80
    path.write_bytes(blob)
    model, _ = load_checkpoint(path)
    x = torch.rand(1, 1, 16, 8)
    net.eval()
    assert torch.equal(model(x), net(x))
