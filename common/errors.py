"""Rollcall's error hierarchy.

Every error a user can cause derives from :class:`RollcallError`. Its message names what failed, the
offending value and what to do next; the CLI prints it as one line and exits 1, the window shows it in a
dialog. Nothing here imports heavy libraries.
"""

from __future__ import annotations


class RollcallError(Exception):
    """Base class of every error Rollcall reports to a user."""


class BadImage(RollcallError):
    """An image file is missing, empty, truncated or not an image."""


class NoFaceFound(RollcallError):
    """No face was detected where one was required."""


class MultipleFaces(RollcallError):
    """Several faces were detected where exactly one was required."""


class SourceError(RollcallError):
    """A frame source (camera, video file, stream URL, image folder) could not be opened or read."""



class BackendUnavailable(RollcallError):
    """An embedding backend or detector cannot be used (unknown name, missing package or weights)."""


class WeightsError(RollcallError):
    """Model weights are missing, corrupted (checksum mismatch) or of the wrong kind."""


class StorageError(RollcallError):
    """The database cannot be opened, migrated or written (locked, read-only, corrupted)."""


class NotFound(RollcallError):
    """A person, session or other stored item named by the user does not exist."""


class DuplicateError(RollcallError):
    """A value that must be unique (a person's external id, a session name) is already taken."""


class InvalidInput(RollcallError):
    """A command-line value or setting is out of range or malformed."""
