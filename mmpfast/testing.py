"""Test helpers for users of mmpfast, and a pytest plugin.

The plugin is registered through the ``pytest11`` entry point ``mmpfast``
(or ``-p mmpfast.testing``) and provides two function-scoped fixtures:

* ``mmp_sim``: a running ``mmpfast.sim.Simulator`` on 127.0.0.1, any free port;
* ``mmp_client``: a ``mmpfast.Client`` connected to ``mmp_sim``.

Configure the simulator of one test with a marker::

    @pytest.mark.mmp_sim(modules=["di:8", "do:8"], latency=0.001, profile="snap")
    def test_something(mmp_client): ...

A simulator that needs a power-up clear (``profile="snap"``, or
``puc_required=True``) refuses most requests until it gets one, as the
device does; ``mmp_client`` sends it when it connects, so a test that takes
``mmp_client`` starts from a cleared controller.  A test that wants to see
the refusal uses ``mmp_sim`` with its own client.

``Simulator``, ``SimulatorProcess`` (a simulator in a child process, for
measurements), ``FaultProxy`` and ``Fault`` are importable from here too.
Importing this module does not need pytest; without it, the fixtures are
simply not defined.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

__all__ = ["Simulator", "SimulatorProcess", "FaultProxy", "Fault"]

if TYPE_CHECKING:   # pragma: no cover
    from .sim import Fault, FaultProxy, Simulator, SimulatorProcess


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import sim
        return getattr(sim, name)
    raise AttributeError(f"module 'mmpfast.testing' has no attribute {name!r}")


try:
    import pytest
except ImportError:   # pragma: no cover - plain (non-pytest) use
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def pytest_configure(config: "pytest.Config") -> None:
        config.addinivalue_line(
            "markers", "mmp_sim(**kwargs): keyword arguments for the mmp_sim fixture's Simulator")

    @pytest.fixture
    def mmp_sim(request: "pytest.FixtureRequest") -> Iterator["Simulator"]:
        """A running simulated groov EPIC (127.0.0.1, free port), stopped after the test."""
        from .sim import Simulator

        marker = request.node.get_closest_marker("mmp_sim")
        kwargs = dict(marker.kwargs) if marker is not None else {}
        with Simulator(**kwargs) as sim:
            yield sim

    @pytest.fixture
    def mmp_client(mmp_sim: "Simulator") -> Iterator[Any]:
        """A ``mmpfast.Client`` connected to ``mmp_sim``, closed after the test.

        When the simulator waits for a power-up clear (``profile="snap"`` or
        ``puc_required=True``), this fixture sends it first
        (``client.powerup_clear()``), so the test's requests are not refused
        with rcode 4."""
        from .client import Client

        with Client(mmp_sim.host, mmp_sim.port) as client:
            if mmp_sim.memory.puc_needed:
                client.powerup_clear()
            yield client
