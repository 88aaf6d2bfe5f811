"""The acquisition settings an SEM file records (beam voltage, magnification, detector,
working distance), read from the vendor metadata :func:`core.io.read_sem` keeps in
``SemImage.metadata``. Best effort: a setting the file does not state is left out.

Each value is ``(text, where)``: the value with its unit as shown to a person, and the
metadata key it came from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

#: The settings, in the order they are shown.
SETTINGS = ("beam_voltage", "magnification", "detector", "working_distance")
Found = dict[str, tuple[str, str]]


def _num(value: Any) -> float | None:
    try:
        v = float(str(value).strip().split()[0])
    except (TypeError, ValueError, IndexError):
        return None
    return v if math.isfinite(v) else None


def _kv(value: float, unit: str) -> str:
    return f"{value / 1e3:g} kV" if unit == "V" else f"{value:g} kV"


def _fei(fei: Mapping[str, Any]) -> Found:
    out: Found = {}
    for section in ("Beam", "EBeam"):
        sec = fei.get(section)
        if not isinstance(sec, Mapping):
            continue
        hv = _num(sec.get("HV"))
        if hv is not None and "beam_voltage" not in out:
            out["beam_voltage"] = (_kv(hv, "V"), f"fei_metadata {section}.HV")
        wd = _num(sec.get("WD"))
        if wd is not None and "working_distance" not in out:
            out["working_distance"] = (f"{wd * 1e3:.4g} mm", f"fei_metadata {section}.WD")
    det = fei.get("Detectors")
    if isinstance(det, Mapping) and det.get("Name"):
        out["detector"] = (str(det["Name"]), "fei_metadata Detectors.Name")
    return out


def _zeiss(sem: Mapping[str, Any]) -> Found:
    out: Found = {}

    def entry(key: str) -> tuple[Any, str] | None:
        e = sem.get(key)
        if isinstance(e, list | tuple) and len(e) >= 2:
            return e[1], str(e[2]) if len(e) >= 3 else ""
        return None

    if (e := entry("ap_actualkv")) and (v := _num(e[0])) is not None:
        out["beam_voltage"] = (f"{v:g} {e[1] or 'kV'}", "sem_metadata ap_actualkv")
    if (e := entry("ap_mag")) and e[0] not in (None, ""):
        out["magnification"] = (f"{e[0]} {e[1]}".strip(), "sem_metadata ap_mag")
    if (e := entry("dp_detector_channel")) and e[0]:
        out["detector"] = (str(e[0]), "sem_metadata dp_detector_channel")
    if (e := entry("ap_wd")) and (v := _num(e[0])) is not None:
        out["working_distance"] = (f"{v:g} {e[1] or 'mm'}", "sem_metadata ap_wd")
    return out


def _key_values(kv: Mapping[str, Any], where: str, keys: Mapping[str, tuple[str, ...]]) -> Found:
    """TESCAN / Hitachi style ``Key=Value`` blocks (SI base units for TESCAN)."""
    out: Found = {}
    for setting, names in keys.items():
        for name in names:
            raw = kv.get(name)
            if raw in (None, ""):
                continue
            text = str(raw).strip()
            v = _num(text)
            if setting == "beam_voltage" and v is not None:
                text = _kv(v, "V")
            elif setting == "working_distance" and v is not None and where == "TESCAN":
                text = f"{v * 1e3:.4g} mm"  # metres
            elif setting == "magnification" and v is not None:
                text = f"{v:g} x"
            out[setting] = (text, f"{where} {name}")
            break
    return out


_READERS: dict[str, Callable[[Mapping[str, Any]], Found]] = {
    "fei": _fei,
    "zeiss": _zeiss,
    "tescan": lambda kv: _key_values(
        kv,
        "TESCAN",
        {
            "beam_voltage": ("HV",),
            "magnification": ("Magnification",),
            "detector": ("Detector",),
            "working_distance": ("WD",),
        },
    ),
    "hitachi": lambda kv: _key_values(
        kv,
        "Hitachi",
        {
            "beam_voltage": ("AcceleratingVoltage",),
            "magnification": ("Magnification",),
            "detector": ("SignalName",),
            "working_distance": ("WorkingDistance",),
        },
    ),
    "jeol": lambda kv: _key_values(
        kv,
        "JEOL",
        {
            "beam_voltage": ("$CM_ACCEL_VOLT", "$$SM_ACCEL_VOLT"),
            "magnification": ("$CM_MAG", "$$SM_MAG"),
            "detector": ("$CM_SIGNAL", "$$SM_SIGNAL"),
            "working_distance": ("$$SM_WD", "$CM_WD"),
        },
    ),
}


def acquisition_settings(metadata: Mapping[str, Any]) -> Found:
    """``setting -> (text, where)`` for the :data:`SETTINGS` the metadata states."""
    out: Found = {}
    for block, reader in _READERS.items():
        data = metadata.get(block)
        if isinstance(data, Mapping):
            try:
                found = reader(data)
            except Exception:  # best effort: odd vendor blocks never fail a read
                continue
            for k, v in found.items():
                out.setdefault(k, v)
    return {k: out[k] for k in SETTINGS if k in out}
