"""The golden vectors ship in the repository (tests/vectors) and stay equal to the reference copy.

The reference set lives in ``../shared/vectors`` beside the repository when the repository is
checked out in its development home; a clone standing alone has no such folder, and then the one
comparison that needs it is skipped (saying why) while every other test reads tests/vectors.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IN_REPO_VECTORS, REFERENCE_VECTORS, REPO, VECTORS

NAMES = ("frames.json", "memmap.json", "stream_standard.json")


def test_in_repo_vectors_are_complete_and_parse() -> None:
    assert sorted(p.name for p in IN_REPO_VECTORS.iterdir() if p.is_file()) == sorted(NAMES)
    frames = json.loads((IN_REPO_VECTORS / "frames.json").read_text(encoding="utf-8"))
    assert len(frames["frames"]) >= 7 and frames["malformed"]
    memmap = json.loads((IN_REPO_VECTORS / "memmap.json").read_text(encoding="utf-8"))
    assert len(memmap["addresses"]) > 0
    stream = json.loads((IN_REPO_VECTORS / "stream_standard.json").read_text(encoding="utf-8"))
    assert len(bytes.fromhex(stream["hex"])) == 604     # the standard stream packet


def test_suite_reads_the_in_repo_vectors_by_default() -> None:
    if os.environ.get("MMPFAST_VECTORS"):
        assert VECTORS == Path(os.environ["MMPFAST_VECTORS"])
    else:
        assert VECTORS == REPO / "tests" / "vectors"


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_in_repo_vectors_equal_the_reference_copy() -> None:
    if not REFERENCE_VECTORS.is_dir():
        pytest.skip(f"no reference vectors at {REFERENCE_VECTORS} (a clone standing alone): "
                    "tests/vectors is not compared with them")
    assert _digest(IN_REPO_VECTORS) == _digest(REFERENCE_VECTORS), (
        f"tests/vectors drifted from {REFERENCE_VECTORS}: copy them in again, byte for byte")


def test_fuzz_tool_defaults_to_the_in_repo_vectors(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MMPFAST_VECTORS"}
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('fz', {str(REPO / 'tools' / 'fuzz_codecs.py')!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "print(m.DEFAULT_VECTORS)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == IN_REPO_VECTORS
    env["MMPFAST_VECTORS"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == tmp_path
