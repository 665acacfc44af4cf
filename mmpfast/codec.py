"""The OptoMMP codec: the compiled ``mmpfast._codec`` unless
``MMPFAST_NO_EXTENSIONS=1`` asks for the pure-Python ``mmpfast._codec_py``.

``IMPLEMENTATION`` says which one a plain import picked (``"cython"`` or
``"python"``).  If the compiled module is missing, the pure one is used and a
``RuntimeWarning`` is issued, unless ``MMPFAST_REQUIRE_EXTENSION=1`` is set,
in which case the import fails (CI sets it, so a silent slow path cannot pass).
"""
from __future__ import annotations

import os
import sys
import warnings
from types import FrameType
from typing import Optional

from ._env import no_extensions, require_extension


def _importer_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning issued by this module's code point at the first
    frame outside mmpfast and the import machinery: the user's line that imported (or first
    used) the codec.  ``warnings`` itself skips ``importlib._bootstrap`` frames without
    counting them, so they are not counted here either."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep

    def skipped_by_warnings(filename: str) -> bool:
        return "importlib" in filename and "_bootstrap" in filename

    def ours(filename: str) -> bool:
        return (os.path.abspath(filename).startswith(package) or "importlib" in filename
                or filename.startswith("<frozen "))

    frame: Optional[FrameType] = sys._getframe(1)     # the caller: this module's code, stacklevel 1
    level = 1
    while frame is not None:
        frame = frame.f_back
        while frame is not None and skipped_by_warnings(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None:
            return level
        level += 1
        if not ours(frame.f_code.co_filename):
            return level
    return level


if no_extensions():
    from ._codec_py import *  # noqa: F401,F403
    from ._codec_py import IMPLEMENTATION, MAX_BLOCK, Frame, FrameSplitter, __all__  # noqa: F401
else:
    try:
        from ._codec import *  # type: ignore[assignment]  # noqa: F401,F403
        from ._codec import IMPLEMENTATION, MAX_BLOCK, Frame, FrameSplitter, __all__  # type: ignore[assignment]  # noqa: F401
    except ImportError as exc:
        if require_extension():
            raise ImportError(
                "mmpfast: the compiled codec mmpfast._codec is not importable "
                f"({exc}); MMPFAST_REQUIRE_EXTENSION is set") from exc
        warnings.warn(
            f"mmpfast: compiled codec unavailable ({exc}); using the pure-Python codec. "
            "Set MMPFAST_NO_EXTENSIONS=1 to choose it explicitly.",
            RuntimeWarning, stacklevel=_importer_stacklevel())
        from ._codec_py import *  # noqa: F401,F403
        from ._codec_py import IMPLEMENTATION, MAX_BLOCK, Frame, FrameSplitter, __all__  # noqa: F401
