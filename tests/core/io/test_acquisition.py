"""core.io.acquisition: beam voltage, magnification, detector and working distance from
each vendor's metadata block, with the key they came from."""

from __future__ import annotations

from core.io.acquisition import acquisition_settings


def test_fei() -> None:
    md = {
        "fei": {
            "Beam": {"HV": "5000"},
            "EBeam": {"WD": "0.0041"},
            "Detectors": {"Name": "ETD"},
        }
    }
    out = acquisition_settings(md)
    assert out["beam_voltage"] == ("5 kV", "fei_metadata Beam.HV")
    assert out["working_distance"] == ("4.1 mm", "fei_metadata EBeam.WD")
    assert out["detector"] == ("ETD", "fei_metadata Detectors.Name")
    assert "magnification" not in out
    assert list(out) == ["beam_voltage", "detector", "working_distance"]


def test_zeiss_tuples() -> None:
    md = {
        "zeiss": {
            "ap_actualkv": ["EHT", 3.0, "kV"],
            "ap_mag": ["Mag", "50.00 K", "X"],
            "dp_detector_channel": ["Signal A", "InLens", ""],
            "ap_wd": ["WD", 4.2, "mm"],
        }
    }
    out = acquisition_settings(md)
    assert out["beam_voltage"][0] == "3 kV"
    assert out["magnification"][0] == "50.00 K X"
    assert out["detector"][0] == "InLens"
    assert out["working_distance"] == ("4.2 mm", "sem_metadata ap_wd")


def test_tescan_si_units_and_junk() -> None:
    md = {"tescan": {"HV": "15000", "Magnification": "2500", "Detector": "SE", "WD": "0.01"}}
    out = acquisition_settings(md)
    assert out["beam_voltage"][0] == "15 kV"
    assert out["magnification"][0] == "2500 x"
    assert out["working_distance"][0] == "10 mm"
    assert acquisition_settings({"fei": "not a dict", "zeiss": {"ap_wd": 3}}) == {}
    assert acquisition_settings({}) == {}
