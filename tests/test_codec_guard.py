"""Guard: which codec a plain ``import mmpfast.codec`` really picks.

Run in a subprocess from a temporary directory, so the answer is about the
package Python resolves on its own, not about the test's sys.path.
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

import mmpfast.codec
from mmpfast._env import no_extensions

_PROBE = """
import json, mmpfast.codec as c, sys
mod = sys.modules[c.decode_frame.__module__]
print(json.dumps({"impl": c.IMPLEMENTATION, "module": c.decode_frame.__module__,
                  "file": getattr(mod, "__file__", None)}))
"""


def _run(tmp_path: Path, env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", _PROBE],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)


def _probe(tmp_path: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    env = dict(os.environ)
    env.update(extra or {})
    out = _run(tmp_path, env)
    if out.returncode != 0 and "No module named 'mmpfast'" in out.stderr:
        # not installed: probe the package this suite imported (an in-place build), still
        # from a foreign cwd so nothing else of the source tree leaks in
        pkg_parent = str(Path(mmpfast.codec.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH", "")) if p)
        out = _run(tmp_path, env)
    assert out.returncode == 0, out.stderr
    result: Dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_default_import_picks_compiled_codec(tmp_path: Path) -> None:
    got = _probe(tmp_path)
    if no_extensions():
        assert got["impl"] == "python" and got["module"] == "mmpfast._codec_py"
    else:
        assert got["impl"] == "cython", got
        assert got["module"] == "mmpfast._codec"
        assert got["file"].endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_no_extensions_picks_pure_codec(tmp_path: Path) -> None:
    got = _probe(tmp_path, {"MMPFAST_NO_EXTENSIONS": "1"})
    assert got == {"impl": "python", "module": "mmpfast._codec_py", "file": got["file"]}
    assert got["file"].endswith("_codec_py.py")


def test_in_process_matches_environment() -> None:
    import mmpfast.wire
    if no_extensions():
        assert mmpfast.codec.IMPLEMENTATION == "python"
        assert mmpfast.codec.decode_frame.__module__ == "mmpfast._codec_py"
        assert mmpfast.wire.IMPLEMENTATION == "python"
    else:
        assert mmpfast.codec.IMPLEMENTATION == "cython"
        assert mmpfast.codec.decode_frame.__module__ == "mmpfast._codec"
        assert mmpfast.wire.IMPLEMENTATION == "cython"      # the blocking hot path too


def test_compiled_module_is_a_shared_library() -> None:
    if no_extensions():
        try:
            import mmpfast._codec as compiled
        except ImportError:
            pytest.skip("pure build requested with MMPFAST_NO_EXTENSIONS=1 and no extension present")
    else:
        import mmpfast._codec as compiled
    path = Path(compiled.__file__)
    assert path.suffix in (".so", ".pyd")
    assert path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    assert isinstance(compiled.__loader__, importlib.machinery.ExtensionFileLoader)
    assert compiled.IMPLEMENTATION == "cython"
    with open(path, "rb") as fh:
        magic = fh.read(4)
    assert magic in (b"\x7fELF", b"MZ\x90\x00", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe") or magic[:2] == b"MZ"
