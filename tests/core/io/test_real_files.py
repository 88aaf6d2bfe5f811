"""Every file in shared/data/real_sem read with read_sem and checked against SOURCES.md.

The expected table is written by hand from SOURCES.md (shape as WxH there, dtype,
pixel size, vendor). Zeiss data-zone heights are not in SOURCES.md ("data zone
burned into the bottom"); they were measured on the images: the zone starts at the
full-width border line (row 690 of 768 in the KIT Auriga files, 708 of 768 in the
Crossbeam file, 350 of 384 in the ULTRA 55 file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.io import SemReadError, TruncatedFileError, read_sem


@dataclass(frozen=True)
class Expected:
    width: int  # full frame, as in SOURCES.md (WxH)
    height: int
    dtype: str
    pixel_size_nm: float | None
    source: str  # pixel_size_source
    vendor: str | None
    databar: int  # rows removed from the bottom


EXPECTED: dict[str, Expected] = {
    "odemis_delmic/tescan_example_sem1.tif": Expected(
        1024, 888, "uint16", 2501.0, "TESCAN tag 50431 PixelSizeX", "TESCAN", 120
    ),
    "odemis_delmic/jeol_example_sem.tif": Expected(1280, 960, "uint8", None, "none", "JEOL", 0),
    "odemis_delmic/tfs_example.tif": Expected(
        1536, 1092, "uint8", 269.8, "fei_metadata Scan.PixelWidth", "FEI/Thermo", 68
    ),
    "odemis_delmic/zeiss_example_sem.tif": Expected(
        1024, 768, "uint8", 593.3, "sem_metadata ap_image_pixel_size", "Zeiss", 60
    ),
    "kit_tomo_mapper/SEM_Image-SliceImage-001.tif": Expected(
        1536, 1024, "uint8", 385.4, "fei_metadata Scan.PixelWidth", "FEI/Thermo", 0
    ),
    "kit_sem_mapping_tool/FeMoOx_AntiA_04_1k5x_CN.tif": Expected(
        1024, 768, "uint8", 74.43, "sem_metadata ap_image_pixel_size", "Zeiss", 78
    ),
    "kit_sem_mapping_tool/1-as-cast_16_Sch_10k_InLens.tif": Expected(
        1024, 768, "uint8", 11.16, "sem_metadata ap_image_pixel_size", "Zeiss", 78
    ),
    "kit_sem_mapping_tool/test_zeiss_merlin.tif": Expected(
        1024, 768, "uint8", 55.82, "sem_metadata ap_image_pixel_size", "Zeiss", 0
    ),
    "kit_sem_mapping_tool/InLens_keyframe_00001_slice_00006_z1.6659um.tif": Expected(
        1023, 1023, "uint8", 44.72, "FibicsXML Scan/Ux", "Fibics", 0
    ),
    "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif": Expected(
        512, 384, "uint8", 5.825, "sem_metadata ap_pixel_size", "Zeiss", 34
    ),
    "rosettasciio/FEI-Helios-Ebeam-16bits.tif": Expected(
        512, 471, "uint16", 3372.0, "fei_metadata Scan.PixelWidth", "FEI/Thermo", 29
    ),
    "openfibsem_demarcolab/test_image_2.tif": Expected(
        1536, 1024, "uint8", 97.66, "fei_metadata Scan.PixelWidth", "FEI/Thermo", 0
    ),
    "pytools_litho_analysis/test_analysis_raw_half_lines.jpg": Expected(
        2048, 2168, "uint8", 17.62, "Phenom APP7 FeiImage pixelWidth", "Phenom", 120
    ),
    "pytools_litho_analysis/test_stack1.jpg": Expected(
        2048, 2168, "uint8", 15.97, "Phenom APP7 FeiImage pixelWidth", "Phenom", 120
    ),
    "pytools_litho_analysis/test_analysis_lines.jpg": Expected(
        956, 1036, "uint8", None, "none", "Phenom", 0
    ),
}
TRUNCATED = "nist_nexuslims/quad1image_001_no_beam_scan_or_system_meta.tif"
SIDECARS = {"odemis_delmic/jeol_example_sem.txt"}


def _all_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name != "SOURCES.md"
    }


def test_every_file_in_the_folder_is_covered(real_sem_dir: Path) -> None:
    assert _all_files(real_sem_dir) == set(EXPECTED) | {TRUNCATED} | SIDECARS


def test_hand_table_agrees_with_sources_quick_table(real_sem_dir: Path) -> None:
    text = (real_sem_dir / "SOURCES.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| ([\w./-]+\.(?:tif|jpg)) \| [^|]+ \| (\d+)x(\d+) \(WxH\), (\w+)", text, re.M
    )
    found = {name: (int(w), int(h), dt) for name, w, h, dt in rows}
    for name, exp in EXPECTED.items():
        w, h, dt = found[name]
        assert (w, h) == (exp.width, exp.height), name
        if dt != "mode":  # JPEG rows say "mode L (8-bit grayscale JPEG)"
            assert dt == exp.dtype, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file(real_sem_dir: Path, name: str) -> None:
    exp = EXPECTED[name]
    img = read_sem(real_sem_dir / name)
    assert img.databar_height == exp.databar
    assert img.shape == (exp.height - exp.databar, exp.width)
    assert img.pixels.shape == img.shape
    assert img.pixels.dtype == np.float32
    assert img.dtype == exp.dtype
    assert img.bit_depth == (16 if exp.dtype == "uint16" else 8)
    assert img.vendor == exp.vendor
    assert img.pixel_size_source == exp.source
    assert img.pixel_size_unit == "nm"
    if exp.pixel_size_nm is None:
        assert img.pixel_size is None and img.pixel_size_nm is None
    else:
        assert img.pixel_size_nm == pytest.approx(exp.pixel_size_nm, rel=1e-3)
    assert img.page_count == 1
    assert img.path == real_sem_dir / name
    assert img.format == ("JPEG" if name.endswith(".jpg") else "TIFF")
    json.dumps(img.metadata, allow_nan=False)  # JSON-serialisable
    top = 65535 if exp.dtype == "uint16" else 255
    assert img.pixels.min() >= 0 and img.pixels.max() <= top
    norm = img.normalized()
    assert norm.dtype == np.float32 and norm.min() >= 0.0 and norm.max() <= 1.0


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.databar))
def test_keep_databar_returns_full_frame(real_sem_dir: Path, name: str) -> None:
    exp = EXPECTED[name]
    full = read_sem(real_sem_dir / name, strip_databar=False)
    cut = read_sem(real_sem_dir / name)
    assert full.shape == (exp.height, exp.width)
    assert full.databar_height == 0
    assert full.metadata["databar_detected"] == exp.databar
    np.testing.assert_array_equal(full.pixels[: exp.height - exp.databar], cut.pixels)


def test_nist_truncated_file_fails_cleanly(real_sem_dir: Path) -> None:
    path = real_sem_dir / TRUNCATED
    with pytest.raises(TruncatedFileError) as info:
        read_sem(path)
    assert isinstance(info.value, SemReadError)
    assert str(info.value).startswith(str(path))
    assert "truncated" in str(info.value)
    assert info.value.path == path


def test_fei_helios_16bit_metadata_only_file(real_sem_dir: Path) -> None:
    path = real_sem_dir / "rosettasciio/FEI-Helios-Ebeam-16bits.tif"
    img = read_sem(path)
    assert not img.pixels.any()  # the image area is all zeros
    full = read_sem(path, strip_databar=False)
    assert full.pixels[442:].max() == 65280  # only the data bar has pixels (255 * 256)
    assert img.metadata["fei"]["System"]["SystemType"] == 'Helios NanoLab" 660'


def test_fei_ion_beam_file_without_ebeam_sections(real_sem_dir: Path) -> None:
    img = read_sem(real_sem_dir / "openfibsem_demarcolab/test_image_2.tif")
    fei = img.metadata["fei"]
    assert "IBeam" in fei and "EBeam" not in fei and "EScan" not in fei
    assert fei["Beam"]["Beam"] == "IBeam"
    assert img.pixel_size_nm == pytest.approx(97.6562, rel=1e-6)


def test_old_zeiss_file_uses_ap_pixel_size(real_sem_dir: Path) -> None:
    img = read_sem(real_sem_dir / "rosettasciio/test_tiff_Zeiss_SEM_512pix.tif")
    assert "ap_image_pixel_size" not in img.metadata["zeiss"]
    assert img.metadata["zeiss"]["ap_pixel_size"] == ["Pixel Size", 5.825, "nm"]
    # its palette is not a plain gray ramp (index 9 is red): luminance is used
    assert img.metadata["gray_conversion"] == "palette luminance ITU-R BT.601"


def test_fibics_pixel_size_only_in_xml(real_sem_dir: Path) -> None:
    img = read_sem(
        real_sem_dir / "kit_sem_mapping_tool/InLens_keyframe_00001_slice_00006_z1.6659um.tif"
    )
    assert img.pixel_size_nm == pytest.approx(44.7154077316689, rel=1e-9)
    assert img.metadata["fibics"]["Image"]["Machine"] == "INT-AURIGA"
    assert img.metadata["tiff_tags"]["Software"] == "Fibics AtlasEngine 5.0.0.711"


def test_tescan_binary_tag(real_sem_dir: Path) -> None:
    img = read_sem(real_sem_dir / "odemis_delmic/tescan_example_sem1.tif")
    assert img.metadata["tescan"]["Device"] == "MIRA3 XMU"
    assert img.metadata["tescan"]["ImageStripSize"] == "120"
    assert img.pixel_size_nm == pytest.approx(2501.2, rel=1e-9)


def test_jeol_sidecar_without_micron_bar(real_sem_dir: Path) -> None:
    img = read_sem(real_sem_dir / "odemis_delmic/jeol_example_sem.tif")
    assert img.metadata["sidecar"] == "jeol_example_sem.txt"
    assert img.metadata["jeol"]["$CM_MAG"] == "50"
    assert img.metadata["jeol"]["$CM_INSTRUMENT"] == "4700F"
    assert img.pixel_size is None  # magnification alone is no calibration
    assert img.metadata["compression"] == "LZW"


def test_phenom_jpeg_calibration_in_app7(real_sem_dir: Path) -> None:
    img = read_sem(real_sem_dir / "pytools_litho_analysis/test_analysis_raw_half_lines.jpg")
    assert img.pixel_size_nm == pytest.approx(17.6171, rel=1e-6)
    assert img.metadata["phenom"]["databarHeight"] == "120"
    assert img.metadata["exif"] == {"Make": "FEI", "Model": "Phenom", "Software": "1.6_7.rel.7940"}
    cropped = read_sem(real_sem_dir / "pytools_litho_analysis/test_analysis_lines.jpg")
    assert "phenom" not in cropped.metadata and cropped.pixel_size is None


def test_multiple_reads_agree(real_sem_dir: Path) -> None:
    path = real_sem_dir / "odemis_delmic/tfs_example.tif"
    a, b = read_sem(path), read_sem(str(path))
    np.testing.assert_array_equal(a.pixels, b.pixels)
