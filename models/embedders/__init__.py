"""Embedding backends: one contract (:mod:`models.embedders.base`), one registry (:mod:`.registry`)."""
