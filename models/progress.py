"""Moved to :mod:`common.progress`; this name stays only so branches written before the move still merge.

Import from ``common.progress``. The import contract "Nothing imports the moved modules" (pyproject.toml) fails on
any import of this module, so it can be deleted as soon as merged code no longer names it.
"""

from common.progress import Progress, ShouldStop, never_stop, no_progress  # noqa: F401
