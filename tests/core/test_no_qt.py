"""core/ must work with Qt absent: import every core module with PySide6/pyqtgraph blocked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import core

SCRIPT = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'PySide6', 'pyqtgraph', 'superqt', 'shiboken6'}:
            raise ImportError('Qt is blocked in this test: ' + name)
        return None
sys.meta_path.insert(0, Block())
import core
names = [m.name for m in pkgutil.walk_packages(core.__path__, 'core.')]
for n in names:
    importlib.import_module(n)
leaked = [m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'superqt'}]
assert not leaked, leaked
print(len(names))
"""


def test_every_core_module_imports_without_qt() -> None:
    root = Path(core.__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 3  # progress, device, resources, cli at least
