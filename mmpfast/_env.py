"""Build/runtime switches read from the environment, in one place.

Loaded by ``setup.py`` (by file path, before the package exists) and by
``mmpfast.codec``.  Standard library only.
"""
from __future__ import annotations

import os

NO_EXTENSIONS_VAR = "MMPFAST_NO_EXTENSIONS"
REQUIRE_EXTENSION_VAR = "MMPFAST_REQUIRE_EXTENSION"

_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def no_extensions() -> bool:
    """True when ``MMPFAST_NO_EXTENSIONS`` asks for the pure-Python codec (build and import)."""
    return _flag(NO_EXTENSIONS_VAR)


def require_extension() -> bool:
    """True when ``MMPFAST_REQUIRE_EXTENSION`` says a missing compiled codec is an error."""
    return _flag(REQUIRE_EXTENSION_VAR)
