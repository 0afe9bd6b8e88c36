"""What every layer of Rollcall may import: the error hierarchy, the progress callables and the metric type.

Nothing here imports any other part of Rollcall (nor anything heavier than numpy), so storage (``db``), the engine
(``models``) and the application (``app``) can all share it without depending on each other.
"""
