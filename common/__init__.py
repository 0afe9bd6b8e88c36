"""What every layer of Rollcall may import: the error hierarchy and the progress callables.

Nothing here imports any other part of Rollcall (or any heavy library), so storage (``db``), the engine
(``models``) and the application (``app``) can all share it without depending on each other.
"""
