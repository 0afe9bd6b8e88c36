"""Application services: combine the engine (``models``) and storage (``db``) into the jobs a user runs.

Qt-free; long jobs take ``progress(done, total, text)`` and ``should_stop()`` callables.
"""
