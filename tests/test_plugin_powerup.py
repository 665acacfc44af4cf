"""The ``mmp_client`` fixture sends the power-up clear a ``snap`` simulator waits for."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mmpfast

IMPORT_ROOT = Path(mmpfast.__file__).resolve().parent.parent


def test_mmp_client_clears_a_snap_simulator(tmp_path: Path) -> None:
    (tmp_path / "test_user_snap.py").write_text(textwrap.dedent("""
        import pytest
        from mmpfast import Client, MmpNakError

        @pytest.mark.mmp_sim(profile="snap")
        def test_client_is_ready(mmp_sim, mmp_client):
            assert not mmp_sim.memory.puc_needed
            mmp_client.write_scratchpad_int32(0, [-7, 42])
            assert mmp_client.read_scratchpad_int32(0, count=2) == [-7, 42]
            assert mmp_sim.stats.naks == 0

        @pytest.mark.mmp_sim(profile="snap")
        def test_without_the_fixture_it_is_refused(mmp_sim):
            assert mmp_sim.memory.puc_needed
            with Client(mmp_sim.host, mmp_sim.port) as c:
                with pytest.raises(MmpNakError) as info:
                    c.read_scratchpad_int32(0)
            assert info.value.rcode == 4

        def test_epic_needs_none(mmp_sim, mmp_client):
            assert not mmp_sim.memory.puc_needed
            assert mmp_sim.stats.by_tcode == {}          # nothing was sent for it
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    eps = importlib.metadata.entry_points()
    group = eps.select(group="pytest11") if hasattr(eps, "select") else eps.get("pytest11", [])  # 3.9
    plugin = [] if any(ep.name == "mmpfast" for ep in group) else ["-p", "mmpfast.testing"]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(IMPORT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", *plugin, "-p", "no:cacheprovider",
                          str(tmp_path / "test_user_snap.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 passed" in out.stdout
