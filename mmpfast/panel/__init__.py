"""A live rack panel in the browser (``mmpfast panel HOST``, ``mmpfast sim --panel``).

An aiohttp application (the optional extra ``mmpfast[panel]``) runs an
:class:`~mmpfast.AsyncScanLoop` over one rack and pushes each pass's changes
to every open page over a WebSocket.  The page is plain HTML/CSS/JS shipped
in this package (no build step, nothing fetched from the internet).

Importing this package, ``mmpfast.panel.model`` or ``mmpfast.panel.cli``
never needs aiohttp; ``mmpfast.panel.app`` does.  The page's DOM hooks
(``data-module``, ``data-channel``, ``data-kind``, ``data-value``,
``data-action``, ``data-role="status"``) are a fixed contract (docs/panel.md,
"DOM hooks").
"""
from __future__ import annotations

from .cli import PanelHandle, PanelUnavailable, add_panel_arguments, run_panel, start_sim_panel

__all__ = ["PanelHandle", "PanelUnavailable", "add_panel_arguments", "run_panel", "start_sim_panel"]
