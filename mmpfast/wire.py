"""The blocking client's single-exchange hot path: the compiled ``mmpfast._wire``
unless ``MMPFAST_NO_EXTENSIONS=1`` asks for the pure ``mmpfast._wire_py``
(or the extension is missing: the codec's import warns about a missing build;
``MMPFAST_REQUIRE_EXTENSION=1`` makes it an ImportError here too).

Every function takes and returns ``armed``, the socket timeout it left set on
the socket (seconds; 0.0 when not known, e.g. a new socket): the caller keeps
it per connection and passes it back, so a normal call arms nothing (see
``mmpfast._wire``), and forgets it (0.0) after a failure or after changing the
socket's timeout itself.
"""
from __future__ import annotations

from types import ModuleType

from . import _wire_py
from ._env import no_extensions, require_extension

_impl: ModuleType = _wire_py
if not no_extensions():
    try:
        from . import _wire
        _impl = _wire
    except ImportError as exc:
        if require_extension():
            raise ImportError(
                "mmpfast: the compiled hot path mmpfast._wire is not importable "
                f"({exc}); MMPFAST_REQUIRE_EXTENSION is set") from exc

IMPLEMENTATION: str = _impl.IMPLEMENTATION
ARM_MARGIN: float = _wire_py.ARM_MARGIN if _impl is _wire_py else _impl.ARM_MARGIN
exchange_read = _wire_py.exchange_read if _impl is _wire_py else _impl.exchange_read
exchange_write = _wire_py.exchange_write if _impl is _wire_py else _impl.exchange_write
exchange_window = _wire_py.exchange_window if _impl is _wire_py else _impl.exchange_window

__all__ = ["ARM_MARGIN", "IMPLEMENTATION", "exchange_read", "exchange_write", "exchange_window"]
