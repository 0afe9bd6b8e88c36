"""The command line. Each sub-command lives in its own module here with two functions:

* ``register(subparsers)`` adds its parsers and sets ``func`` to a handler via ``set_defaults``;
* the handler ``(args, ctx: AppContext) -> int`` does the work and returns the exit code.

:data:`COMMAND_MODULES` lists the modules; ``main.py`` imports them only to build the parser (they must not
import heavy libraries at module level). Errors derived from ``RollcallError`` become one line on stderr and
exit code 1.
"""

from __future__ import annotations

COMMAND_MODULES: tuple[str, ...] = (
    "app.cli.people_cmds",
    "app.cli.recognize_cmds",
    "app.cli.attendance_cmds",
    "app.cli.eval_cmds",
    "app.cli.models_cmds",
    "app.cli.backend_cmds",
    "app.cli.convert_cmds",
    "app.cli.watch_cmd",
    "app.cli.train_cmd",
    "app.cli.db_cmds",
    "app.cli.serve_cmd",
)
