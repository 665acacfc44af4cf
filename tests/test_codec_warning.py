"""The "compiled codec unavailable" warning points at the user's line that loaded the codec."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mmpfast

IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent

CASES = {
    "import_codec": "import mmpfast.codec",
    "from_import": "from mmpfast import codec",
    "lazy_client": "import mmpfast\nClient = mmpfast.Client",
    "import_sim": "import mmpfast.sim",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_warning_points_at_the_users_import(tmp_path: Path, name: str) -> None:
    body = CASES[name]
    script = tmp_path / "user_app.py"
    script.write_text(
        "import json, sys, warnings\n"
        "sys.modules['mmpfast._codec'] = None          # the compiled codec cannot be imported\n"
        "with warnings.catch_warnings(record=True) as got:\n"
        "    warnings.simplefilter('always')\n"
        + "".join(f"    {line}\n" for line in body.splitlines())
        + "print(json.dumps([[w.category.__name__, w.filename, w.lineno, str(w.message)] for w in got]))\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MMPFAST_NO_EXTENSIONS", "MMPFAST_REQUIRE_EXTENSION")}
    env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert len(got) == 1, got
    category, filename, lineno, message = got[0]
    assert category == "RuntimeWarning"
    assert "compiled codec unavailable" in message
    assert Path(filename) == script                     # the user's file ...
    assert lineno == 4 + len(body.splitlines())        # ... and the line that loaded the codec
