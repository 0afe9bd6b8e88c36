"""The two callables every long job takes, so the CLI and the window can drive the same code.

``progress(done, total, text)`` reports advancement; ``should_stop()`` returns True when the user cancelled.
A job that stops early returns what it finished (and leaves storage consistent); it does not raise.
"""

from __future__ import annotations

from typing import Callable

Progress = Callable[[int, int, str], None]
ShouldStop = Callable[[], bool]


def no_progress(done: int, total: int, text: str) -> None:
    """A ``progress`` that ignores reports."""


def never_stop() -> bool:
    """A ``should_stop`` that never asks to stop."""
    return False
