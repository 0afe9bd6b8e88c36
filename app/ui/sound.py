"""The short sound played when someone is marked present (can be turned off in Settings)."""

from __future__ import annotations

import logging
import math
import struct
import wave
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)


def write_chime(path: Path, rate: int = 22050) -> None:
    """Write a soft two-note chime (0.25 s, mono 16-bit WAV) to ``path``."""
    frames = bytearray()
    for freq, length in ((880.0, 0.11), (1318.5, 0.14)):
        n = int(rate * length)
        for i in range(n):
            fade = min(1.0, i / 200.0, (n - i) / (0.6 * n))
            frames += struct.pack("<h", int(9000 * fade * math.sin(2 * math.pi * freq * i / rate)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


class Chime(QObject):
    """Plays the chime through Qt Multimedia when it is available, else the system beep.

    Args:
        cache_dir: where the generated WAV file is kept.
        enabled: whether :meth:`play` makes a sound.
    """

    def __init__(self, cache_dir: Path, enabled: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.enabled = enabled
        self.played = 0
        self._cache_dir = cache_dir
        self._effect: object | None = None
        self._tried = False

    def play(self) -> None:
        """Make the sound (counts in :attr:`played` even when no audio device answers)."""
        if not self.enabled:
            return
        self.played += 1
        effect = self._load()
        if effect is None:
            QApplication.beep()
        else:
            effect.play()  # type: ignore[attr-defined]

    def _load(self) -> object | None:
        if self._tried:
            return self._effect
        self._tried = True
        try:
            from PySide6.QtMultimedia import QSoundEffect

            path = self._cache_dir / "mark.wav"
            if not path.is_file():
                write_chime(path)
            effect = QSoundEffect(self)
            effect.setSource(QUrl.fromLocalFile(str(path)))
            effect.setVolume(0.6)
            self._effect = effect
        except (ImportError, OSError) as exc:
            log.info("no sound effect (%s); using the system beep", exc)
        return self._effect
