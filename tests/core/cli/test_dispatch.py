"""core.cli: the sub-command table, lazy imports and exit codes."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from core.cli import SUBCOMMANDS, _chosen_command, build_parser, main


def test_every_subcommand_module_registers_its_arguments() -> None:
    parser = build_parser("*")
    for name, (module_name, _help, *prefix) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        infix = f"{prefix[0]}_" if prefix else ""
        assert callable(getattr(module, f"add_{infix}arguments")), name
        assert callable(getattr(module, f"run_{prefix[0]}" if prefix else "run")), name
    # parsing a sub-command's own option works only once its arguments are registered
    args = parser.parse_args(["info", "x.tif", "--json"])
    assert args.command == "info" and args._module == "core.cli.info"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["predict", "a.png"], "predict"),
        (["-v", "info", "x"], "info"),
        (["--version"], None),
        (["--help"], None),
        ([], None),
        (["nonsense"], None),
        (["--", "predict"], None),
    ],
)
def test_chosen_command(argv: list[str], expected: str | None) -> None:
    assert _chosen_command(argv) == expected


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from core.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("argv", [["--version"], ["--help"], []])
def test_version_and_help_import_no_torch_and_no_subcommand(argv: list[str]) -> None:
    mods = _modules_after(argv)
    assert "torch" not in mods and "numpy" not in mods
    assert not {m for m in mods if m.startswith("core.cli.")}


def test_a_subcommand_imports_only_its_own_module() -> None:
    mods = _modules_after(["info", "--help"])
    assert "core.cli.info" in mods
    assert "core.cli.train" not in mods and "core.cli.predict" not in mods
    assert "torch" not in mods


def test_the_cli_choices_are_the_engines() -> None:
    """The CLI spells the choices out (no torch import for --help): the same as the engine's."""
    from core.cli import predict as cli
    from core.inference.scale import SCALE_POLICIES
    from core.inference.tta import TTA_CHOICES

    assert cli.SCALE_POLICY_CHOICES == SCALE_POLICIES
    assert cli.TTA_CHOICES == TTA_CHOICES
