"""The house's layering rules, read from the source (DESIGN.md "Rules of the house").

* The sans-I/O core (wire facts, address map, codecs, records, planner, result, request
  engine) imports no socket, select, selectors, asyncio or time, and no transport.
* The planner imports nothing of the request side.
* The simulator and the clients never import each other.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Set

import pytest

import mmpfast

PKG = Path(mmpfast.__file__).resolve().parent

#: stdlib modules that do I/O or read the clock
IO_MODULES = {"socket", "select", "selectors", "asyncio", "time", "ssl"}
#: the sans-I/O core (modules that may be absent in some versions are skipped)
CORE = ["protocol", "memmap", "errors", "codec", "_codec_py", "_gather", "records", "points",
        "coverage", "plan", "result", "engine", "calls", "datagrams", "checks"]
PLANNER = ["records", "points", "coverage", "plan", "result"]
TRANSPORTS = {"client", "aio", "policy", "wire", "_wire_py", "_wire", "udp", "scanloop"}
REQUEST_SIDE = {"engine", "calls", "checks", "datagrams"} | TRANSPORTS
CLIENT_SIDE = {"client", "aio", "policy", "engine", "calls", "datagrams", "checks", "wire", "_wire_py", "_wire", "udp"}


def _module_path(name: str) -> Path:
    return PKG.joinpath(*name.split(".")).with_suffix(".py")


def imports_of(name: str) -> Set[str]:
    """Absolute names that module ``mmpfast.<name>`` imports (relative imports resolved;
    ``from . import x`` counts as importing ``mmpfast.x``)."""
    path = _module_path(name)
    package = ["mmpfast", *name.split(".")[:-1]]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _own(names: Set[str]) -> Set[str]:
    """The mmpfast modules among ``names``, without the ``mmpfast.`` prefix."""
    return {n[len("mmpfast."):] for n in names if n.startswith("mmpfast.")}


def _all_modules() -> Dict[str, Path]:
    return {".".join(p.relative_to(PKG).with_suffix("").parts): p for p in PKG.rglob("*.py")}


@pytest.mark.parametrize("name", [m for m in CORE if _module_path(m).exists()])
def test_the_core_does_no_io_and_imports_no_transport(name: str) -> None:
    names = imports_of(name)
    assert not {n.split(".")[0] for n in names} & IO_MODULES, sorted(names)
    own = _own(names)
    assert not {o.split(".")[0] for o in own} & (TRANSPORTS | {"sim", "cli", "panel", "testing"}), sorted(own)


@pytest.mark.parametrize("name", [m for m in PLANNER if _module_path(m).exists()])
def test_the_planner_imports_nothing_of_the_request_side(name: str) -> None:
    own = _own(imports_of(name))
    assert not {o.split(".")[0] for o in own} & REQUEST_SIDE, sorted(own)


def test_the_simulator_and_the_clients_never_import_each_other() -> None:
    modules = _all_modules()
    sim = [m for m in modules if m.startswith("sim.")]
    clients = [m for m in modules if m.split(".")[0] in CLIENT_SIDE]
    assert sim and clients
    for m in sim:
        own = {o.split(".")[0] for o in _own(imports_of(m))}
        assert not own & CLIENT_SIDE, (m, sorted(own & CLIENT_SIDE))
    for m in clients:
        own = {o.split(".")[0] for o in _own(imports_of(m))}
        assert "sim" not in own, m


def test_the_rules_can_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader sees a relative import of a transport and a stdlib I/O import."""
    fake = tmp_path / "mmpfast"
    fake.mkdir()
    (fake / "bad.py").write_text("import socket\nfrom .client import Client\nfrom . import aio\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    names = imports_of("bad")
    assert "socket" in names and "mmpfast.client" in names and "mmpfast.aio" in names
