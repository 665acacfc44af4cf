"""The OptoMMP codec: the compiled ``mmpfast._codec`` unless
``MMPFAST_NO_EXTENSIONS=1`` asks for the pure-Python ``mmpfast._codec_py``.

``IMPLEMENTATION`` says which one a plain import picked (``"cython"`` or
``"python"``).  If the compiled module is missing, the pure one is used and a
``RuntimeWarning`` is issued, unless ``MMPFAST_REQUIRE_EXTENSION=1`` is set,
in which case the import fails (CI sets it, so a silent slow path cannot pass).
"""
from __future__ import annotations

import warnings

from ._env import no_extensions, require_extension

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
            RuntimeWarning, stacklevel=2)
        from ._codec_py import *  # noqa: F401,F403
        from ._codec_py import IMPLEMENTATION, MAX_BLOCK, Frame, FrameSplitter, __all__  # noqa: F401
