"""Moved to :mod:`common.errors`; this name stays only so branches written before the move still merge.

Import from ``common.errors``. The import contract "Nothing imports the moved modules" (pyproject.toml) fails on any
import of this module, so it can be deleted as soon as merged code no longer names it.
"""

from common.errors import (  # noqa: F401
    RollcallError,
    BadImage,
    NoFaceFound,
    MultipleFaces,
    SourceError,
    BackendUnavailable,
    WeightsError,
    StorageError,
    NotFound,
    DuplicateError,
    InvalidInput,
)
