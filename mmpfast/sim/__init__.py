"""A simulated groov EPIC speaking OptoMMP, and a fault-injecting proxy.

``Simulator`` (see ``mmpfast.sim.simulator``) serves the memory map of
``mmpfast.sim.memory`` (whose docstring lists every rule the simulator
follows, including the [INF] rules of PROTOCOL.md §5) over TCP and UDP.
``Memory`` is a thin front over the rooms of this package: ``regions``,
``handler`` (every rcode and NAK frame), ``status``, ``scratchpad``,
``iomodel``, ``mirrors``, ``pointconfig``, ``snap``, ``custom`` and
``streaming``.
``FaultProxy`` and ``Fault`` (``mmpfast.sim.faults``) sit between a client
and any server to delay, drop, cut or corrupt responses; ``UdpFaultProxy``
and ``UdpFault`` (``mmpfast.sim.udp_faults``, also importable from
``mmpfast.sim.faults``) do it for UDP answer datagrams (drop, delay,
duplicate, foreign datagrams).  Both share ``proxybase`` (the fault queue and
the background thread); the TCP server and the TCP proxy frame their byte
streams with the codec's splitter through ``framing``.
"""
from __future__ import annotations

from .faults import Fault, FaultProxy, UdpFault, UdpFaultProxy
from .memory import PROFILES, Memory, Stats, StreamConfig
from .process import SimulatorProcess
from .rack import DEFAULT_LAYOUT, ModuleSpec, parse_modules
from .simulator import Simulator

__all__ = ["Simulator", "SimulatorProcess", "Memory", "Stats", "StreamConfig", "PROFILES", "ModuleSpec",
           "DEFAULT_LAYOUT", "parse_modules", "Fault", "FaultProxy", "UdpFault", "UdpFaultProxy"]
