"""The mmpfast exception hierarchy.

``MmpError`` is the root.  ``MmpConnectionError`` is also a ``ConnectionError``
and ``MmpTimeoutError`` also a ``TimeoutError``, so an embedder's generic
handlers keep working.  Argument errors are plain ``ValueError``/``TypeError``.
"""
from __future__ import annotations

from typing import Optional

from .protocol import describe_error, error_code

__all__ = [
    "MmpError",
    "MmpConnectionError",
    "MmpTimeoutError",
    "MmpProtocolError",
    "MmpNakError",
    "WriteOutcomeUnknown",
]


class MmpError(Exception):
    """Root of every error mmpfast raises on purpose (besides argument errors)."""


class MmpConnectionError(MmpError, ConnectionError):
    """The connection could not be made, or was closed or reset by the peer."""


class MmpTimeoutError(MmpError, TimeoutError):
    """The device did not answer within the call's deadline."""


class MmpProtocolError(MmpError):
    """A malformed, truncated or unexpected frame (wrong tcode, tl or length)."""


class MmpNakError(MmpError):
    """The device answered with a non-zero rcode (a NAK).

    ``rcode`` is the 4-bit response code, ``error_code`` the device error
    ``0xE000 | rcode`` (e.g. 0xE005, invalid address) and ``address`` the low
    32 bits of the request's address when known (``None`` otherwise).
    """

    def __init__(self, rcode: int, address: Optional[int] = None, message: Optional[str] = None) -> None:
        self.rcode = rcode
        self.error_code = error_code(rcode)
        self.address = address
        if message is None:
            where = f" at 0x{address:08X}" if address is not None else ""
            message = f"device NAK rcode {rcode} (0x{self.error_code:04X}: {describe_error(rcode)}){where}"
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.rcode, self.address, str(self)))


class WriteOutcomeUnknown(MmpError):
    """A write was sent but its acknowledgement never came.

    The device may or may not have applied it; mmpfast never retries it.
    ``address`` is the low 32 bits of the first byte of the write whose
    outcome is unknown, ``__cause__`` the underlying timeout or connection error.
    """

    def __init__(self, message: str, address: Optional[int] = None) -> None:
        self.address = address
        super().__init__(message)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (str(self), self.address))
