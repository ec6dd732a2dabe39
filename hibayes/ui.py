"""The display that HiBayES passes to every stage. Custom code only uses `display.logger`, and
`display` may be None; this one logs and never prompts."""

from __future__ import annotations

import logging
from typing import Any


class Display:
    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger("hibayes")

    def update_header(self, text: str) -> None:
        self.logger.info(text)

    def update_stat(self, name: str, value: Any) -> None:
        self.logger.debug("%s: %s", name, value)


class ModellingDisplay(Display):
    """Same surface as HiBayES's rich TUI display, without the terminal UI."""
