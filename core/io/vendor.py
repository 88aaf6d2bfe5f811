"""Vendor metadata: pixel size and data-bar height from SEM vendors' TIFF tags and sidecars.

Each ``from_*`` function turns one vendor's raw metadata into a :class:`VendorInfo`
(pixel size in nm with the exact key it came from, data-bar height when the
metadata states it, and a JSON-serialisable copy of the metadata). All of them
are best effort: a malformed block gives an empty result, never an exception
(the reader records the problem in ``metadata["metadata_errors"]``).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# unit -> nanometres per unit
_NM_PER_UNIT: dict[str, float] = {
    "m": 1e9,
    "mm": 1e6,
    "um": 1e3,
    "µm": 1e3,  # micro sign U+00B5
    "μm": 1e3,  # greek mu U+03BC
    "micron": 1e3,
    "microns": 1e3,
    "nm": 1.0,
    "pm": 1e-3,
    "fm": 1e-6,
    "a": 0.1,
    "å": 0.1,
    "angstrom": 0.1,
}

SIDECAR_MAX_BYTES = 1 << 20


def to_nm(value: float, unit: str) -> float:
    """Convert ``value`` in ``unit`` (m, mm, um/µm, nm, pm, fm, Å) to nanometres."""
    key = unit.strip().lower()
    if key not in _NM_PER_UNIT:
        raise ValueError(f"unknown length unit {unit!r}")
    return float(value) * _NM_PER_UNIT[key]


def _positive(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


@dataclass
class VendorInfo:
    """What one vendor's metadata says about an image."""

    vendor: str | None = None
    pixel_size_nm: float | None = None
    pixel_size_source: str = "none"
    databar_height: int | None = None  # None: metadata does not say (heuristic may run)
    databar_source: str = "none"
    metadata: dict[str, Any] = field(default_factory=dict)


def jsonable(obj: Any, *, max_str: int = 20000, depth: int = 0) -> Any:
    """A JSON-serialisable copy: tuples -> lists, numpy -> Python, bytes -> text, NaN -> None."""
    if depth > 20:
        return None
    if obj is None or isinstance(obj, bool | int | str):
        if isinstance(obj, str) and len(obj) > max_str:
            return obj[:max_str] + "..."
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return jsonable(obj.item(), max_str=max_str, depth=depth + 1)
    if isinstance(obj, np.ndarray):
        if obj.size > 4096:
            return f"<array shape={list(obj.shape)} dtype={obj.dtype}>"
        return jsonable(obj.tolist(), max_str=max_str, depth=depth + 1)
    if isinstance(obj, bytes | bytearray):
        text = bytes(obj).split(b"\x00", 1)[0]
        try:
            return jsonable(text.decode("utf-8"), max_str=max_str, depth=depth + 1)
        except UnicodeDecodeError:
            return f"<{len(obj)} bytes>"
    if isinstance(obj, dict):
        return {
            str(k): jsonable(v, max_str=max_str, depth=depth + 1)
            for k, v in obj.items()
            if str(k) != ""
        }
    if isinstance(obj, list | tuple | set):
        return [jsonable(v, max_str=max_str, depth=depth + 1) for v in obj]
    if hasattr(obj, "name") and hasattr(obj, "value"):  # enums
        return str(obj.name)
    return str(obj)


def xml_to_dict(elem: ET.Element) -> Any:
    """A nested dict of an XML element: leaf text as str, ``units``/``unit`` kept as ``@unit``."""
    children = list(elem)
    if not children:
        text = (elem.text or "").strip()
        unit = elem.attrib.get("unit") or elem.attrib.get("units")
        if unit:
            return {"value": text, "@unit": unit}
        if elem.attrib and not text:
            return {f"@{k}": v for k, v in elem.attrib.items()}
        return text
    out: dict[str, Any] = {}
    for child in children:
        key = child.tag.split("}")[-1]
        if child.tag == "item" and "name" in child.attrib:
            key = child.attrib["name"]
        value = xml_to_dict(child)
        if key in out:
            if not isinstance(out[key], list):
                out[key] = [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def _parse_xml(text: str | bytes) -> ET.Element:
    text = text.split(b"\x00", 1)[0] if isinstance(text, bytes) else text.split("\x00", 1)[0]
    if isinstance(text, str) and text.lstrip().startswith("<?xml"):
        # ElementTree refuses str input that declares an encoding; drop the declaration
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    if isinstance(text, str) and "<!DOCTYPE" in text:
        raise ValueError("XML with a DOCTYPE is not accepted")  # no entity expansion
    if isinstance(text, bytes) and b"<!DOCTYPE" in text:
        raise ValueError("XML with a DOCTYPE is not accepted")
    return ET.fromstring(text)


# --------------------------------------------------------------------------- FEI / Thermo


def from_fei(fei: dict[str, Any], rows: int) -> VendorInfo:
    """FEI/Thermo xT metadata (``tif.fei_metadata``): Scan.PixelWidth (m), Image.ResolutionY."""
    info = VendorInfo(vendor="FEI/Thermo", metadata={"fei": jsonable(fei)})
    for section in ("Scan", "EScan", "IScan"):
        sec = fei.get(section)
        if isinstance(sec, dict):
            v = _positive(sec.get("PixelWidth"))
            if v is not None:
                info.pixel_size_nm = v * 1e9
                info.pixel_size_source = f"fei_metadata {section}.PixelWidth"
                break
    image = fei.get("Image")
    if isinstance(image, dict):
        res_y = _positive(image.get("ResolutionY"))
        if res_y is not None and float(res_y).is_integer() and res_y <= rows:
            info.databar_height = int(rows - res_y)
            info.databar_source = "fei_metadata Image.ResolutionY"
    return info


# --------------------------------------------------------------------------- Zeiss


def from_zeiss(sem: dict[str, Any]) -> VendorInfo:
    """Zeiss SmartSEM (``tif.sem_metadata``): ap_image_pixel_size, else ap_pixel_size."""
    info = VendorInfo(vendor="Zeiss", metadata={"zeiss": jsonable(sem)})
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = sem.get(key)
        if isinstance(entry, tuple | list) and len(entry) >= 3:
            v = _positive(entry[1])
            if v is None:
                continue
            try:
                info.pixel_size_nm = to_nm(v, str(entry[2]))
            except ValueError:
                continue
            info.pixel_size_source = f"sem_metadata {key}"
            break
    # SmartSEM does not state the data zone height: the reader's image heuristic decides.
    return info


# --------------------------------------------------------------------------- TESCAN


_KV_RE = re.compile(r"([A-Za-z0-9_]+)=([^\r\n\x00]*)")


def parse_key_values(text: str) -> dict[str, str]:
    """``Key=Value`` lines (INI-like, section headers ignored) into a dict."""
    out: dict[str, str] = {}
    for m in _KV_RE.finditer(text):
        out.setdefault(m.group(1), m.group(2).strip())
    return out


def from_tescan(blob: bytes | str, rows: int, *, source: str = "TESCAN tag 50431") -> VendorInfo:
    """TESCAN metadata: tag 50431 (binary: length, JPEG-2000 thumbnail, key=value text)
    or a ``.hdr`` sidecar. PixelSizeX is in metres, ImageStripSize is the info strip in rows."""
    if isinstance(blob, bytes):
        end = blob.rfind(b"\xff\xd9")  # end of the embedded JPEG-2000 codestream
        text = blob[end + 2 :].decode("latin-1") if end >= 0 else blob.decode("latin-1")
    else:
        text = blob
    kv = parse_key_values(text)
    info = VendorInfo(vendor="TESCAN", metadata={"tescan": kv})
    v = _positive(kv.get("PixelSizeX"))
    if v is not None:
        info.pixel_size_nm = v * 1e9
        info.pixel_size_source = f"{source} PixelSizeX"
    strip = _positive(kv.get("ImageStripSize"))
    if strip is not None and strip.is_integer() and strip < rows:
        info.databar_height = int(strip)
        info.databar_source = f"{source} ImageStripSize"
    elif kv.get("ImageStripSize", "").strip() in ("0", "0.0"):
        info.databar_height = 0
        info.databar_source = f"{source} ImageStripSize"
    return info


# --------------------------------------------------------------------------- Fibics


def from_fibics(xml: str | bytes) -> VendorInfo:
    """Fibics Atlas (tag 51023 FibicsXML): Scan/Ux, Scan/Uy in µm per pixel."""
    root = _parse_xml(xml)
    info = VendorInfo(vendor="Fibics", metadata={"fibics": xml_to_dict(root)})
    ux = root.findtext("Scan/Ux")
    uy = root.findtext("Scan/Uy")
    try:
        x = float(ux) if ux is not None else math.nan
        y = float(uy) if uy else 0.0
    except ValueError:
        x = math.nan
        y = 0.0
    size = math.hypot(x, y)  # scan vector length: correct under scan rotation too
    if math.isfinite(size) and size > 0:
        info.pixel_size_nm = size * 1e3
        info.pixel_size_source = "FibicsXML Scan/Ux"
    info.databar_height = 0  # Atlas images carry no burned-in bar
    info.databar_source = "FibicsXML (no data bar)"
    return info


# --------------------------------------------------------------------------- Phenom


def from_phenom_xml(xml: str | bytes, rows: int, *, source: str) -> VendorInfo:
    """Phenom ``<FeiImage>`` XML (JPEG APP7 or TIFF tag 34683): pixelWidth, databarHeight."""
    root = _parse_xml(xml)
    info = VendorInfo(vendor="Phenom", metadata={"phenom": xml_to_dict(root)})
    pw = root.find("pixelWidth")
    if pw is not None and pw.text:
        v = _positive(pw.text.strip())
        unit = pw.attrib.get("unit", "m")
        if v is not None:
            try:
                info.pixel_size_nm = to_nm(v, unit)
                info.pixel_size_source = f"{source} pixelWidth"
            except ValueError:
                pass
    bar = root.findtext("databarHeight")
    v_bar = _positive(bar) if bar is not None else None
    if bar is not None and bar.strip() == "0":
        info.databar_height = 0
        info.databar_source = f"{source} databarHeight"
    elif v_bar is not None and v_bar.is_integer() and v_bar < rows:
        info.databar_height = int(v_bar)
        info.databar_source = f"{source} databarHeight"
    return info


# --------------------------------------------------------------------------- ImageJ


def from_imagej(unit: str | None, x_resolution: tuple[int, int] | None) -> VendorInfo:
    """ImageJ/Fiji calibration: XResolution (pixels per unit) with the description's unit."""
    info = VendorInfo()
    if unit and x_resolution and x_resolution[0] > 0 and x_resolution[1] > 0:
        per_unit = x_resolution[0] / x_resolution[1]
        try:
            info.pixel_size_nm = to_nm(1.0 / per_unit, unit.replace("\\u00B5", "µ"))
            info.pixel_size_source = "imagej XResolution"
        except ValueError:
            pass
    return info


# ------------------------------------------------------------------ JEOL / Hitachi sidecars


def find_sidecar(path: Path) -> Path | None:
    """A ``.txt`` beside ``path`` with the same stem (JEOL/Hitachi), if any."""
    for suffix in (".txt", ".TXT", ".Txt"):
        cand = path.with_suffix(suffix)
        if cand != path and cand.is_file():
            return cand
    return None


def read_text_file(path: Path) -> str:
    """Decode a small text sidecar: UTF-16 by BOM, else UTF-8, else cp1252/latin-1."""
    raw = path.read_bytes()[:SIDECAR_MAX_BYTES]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="replace")
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _length_nm(text: str) -> float | None:
    m = re.match(r"\s*([0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµμ]+)\s*$", text)
    if not m:
        return None
    try:
        return to_nm(float(m.group(1)), m.group(2))
    except ValueError:
        return None


def from_jeol_text(text: str, rows: int) -> VendorInfo | None:
    """JEOL ``$CM_*``/``$$SM_*`` sidecar: pixel size from $$SM_MICRON_MARKER / $$SM_MICRON_BAR."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("$"):
            continue
        key, _, value = line.partition(" ")
        kv.setdefault(key, value.strip())
    if not any(k.startswith(("$CM_", "$$SM_", "$SM_")) for k in kv):
        return None
    info = VendorInfo(vendor="JEOL", metadata={"jeol": kv})
    marker = kv.get("$$SM_MICRON_MARKER")
    bar = _positive(kv.get("$$SM_MICRON_BAR"))
    if marker and bar:
        length = _length_nm(marker)
        if length is not None:
            info.pixel_size_nm = length / bar
            info.pixel_size_source = "JEOL sidecar $$SM_MICRON_MARKER/$$SM_MICRON_BAR"
    full = kv.get("$CM_FULL_SIZE", "").split()
    if len(full) == 2:
        h = _positive(full[1])
        if h is not None and h.is_integer() and h <= rows:
            info.databar_height = int(rows - h)
            info.databar_source = "JEOL sidecar $CM_FULL_SIZE"
    return info


def from_hitachi_text(text: str, rows: int) -> VendorInfo | None:
    """Hitachi ``[SemImageFile]`` sidecar: PixelSize (nm), DataSize (WxH of the scan)."""
    if "[SemImageFile]" not in text and "InstructName" not in text:
        return None
    kv = parse_key_values(text)
    info = VendorInfo(vendor="Hitachi", metadata={"hitachi": kv})
    v = _positive(kv.get("PixelSize"))
    if v is not None:
        info.pixel_size_nm = v  # Hitachi writes PixelSize in nm
        info.pixel_size_source = "Hitachi sidecar PixelSize"
    m = re.match(r"\s*(\d+)\s*[xX*]\s*(\d+)", kv.get("DataSize", ""))
    if m:
        h = int(m.group(2))
        if 0 < h <= rows:
            info.databar_height = rows - h
            info.databar_source = "Hitachi sidecar DataSize"
    return info


def from_sidecar(image_path: Path, rows: int) -> tuple[VendorInfo | None, Path | None]:
    """JEOL or Hitachi text sidecar beside ``image_path`` (best effort)."""
    side = find_sidecar(image_path)
    if side is None:
        return None, None
    text = read_text_file(side)
    info = from_jeol_text(text, rows) or from_hitachi_text(text, rows)
    return info, side
