"""What a user's type checker sees: ``mypy --strict`` on tests/typing/user_script.py.

Every ``# reveal: T`` line must reveal exactly T, every ``# error: code`` line
must be flagged with that code, and nothing else may be reported.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

SCRIPT = Path(__file__).parent / "typing" / "user_script.py"


def _expectations() -> Tuple[Dict[int, str], Dict[int, str]]:
    reveals: Dict[int, str] = {}
    errors: Dict[int, str] = {}
    for no, line in enumerate(SCRIPT.read_text().splitlines(), 1):
        m = re.search(r"# reveal: (.+)$", line)
        if m and "reveal_type(" in line:
            reveals[no] = m.group(1).strip()
        m = re.search(r"# error: ([\w-]+)$", line)
        if m and not line.startswith("``"):
            errors[no] = m.group(1)
    return reveals, errors


def test_user_script_types(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install mypy)")
    out, err, _status = api.run(["--strict", "--show-error-codes", "--no-error-summary",
                                 "--cache-dir", str(tmp_path / "cache"), str(SCRIPT)])
    assert not err, err
    reveals, errors = _expectations()
    assert len(reveals) >= 25 and len(errors) >= 6
    seen_reveals: Dict[int, str] = {}
    seen_errors: Dict[int, List[str]] = {}
    unexpected: List[str] = []
    for line in out.splitlines():
        m = re.match(r".*user_script\.py:(\d+): (note|error): (.*?)(?:  \[([\w-]+)\])?$", line)
        if not m:
            continue
        no, kind, text, code = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        r = re.match(r'Revealed type is "(.*)"$', text)
        if kind == "note" and r:
            seen_reveals[no] = r.group(1).replace("mmpfast.result.ScanResult", "mmpfast.plan.ScanResult")
        elif kind == "error" and no in errors:
            seen_errors.setdefault(no, []).append(code or "")
        elif kind == "error":
            unexpected.append(line)
    assert unexpected == [], "\n".join(unexpected)
    assert seen_reveals == reveals
    for no, code in errors.items():
        assert code in seen_errors.get(no, []), f"line {no}: expected [{code}], got {seen_errors.get(no)}\n{out}"


def test_async_methods_are_coroutine_functions() -> None:
    import inspect

    import mmpfast
    names = [n for n, v in vars(mmpfast.Client).items() if not n.startswith("_") and inspect.isfunction(v)]
    assert {"read", "read_digital", "scan", "scan_into", "connect", "close"} <= set(names)
    for name in names:
        a = getattr(mmpfast.AsyncClient, name)
        b = getattr(mmpfast.Client, name)
        assert inspect.iscoroutinefunction(a), name
        assert inspect.signature(a) == inspect.signature(b), name
        assert a.__doc__ == b.__doc__ or name in ("connect", "close"), name


def test_client_methods_are_generated_from_one_table() -> None:
    """Client and AsyncClient's public calls come from tools/gen_client_api.py's one table."""
    import importlib.util
    import sys

    tool = Path(__file__).resolve().parent.parent / "tools" / "gen_client_api.py"
    spec = importlib.util.spec_from_file_location("gen_client_api", tool)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0
    import mmpfast
    assert {name for name, *_ in mod.API} == {
        n for n in vars(mmpfast.Client) if not n.startswith("_") and n not in ("connect", "close")
        and callable(getattr(mmpfast.Client, n))}
