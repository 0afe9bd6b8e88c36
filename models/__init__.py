"""Rollcall's face engine: Qt-free, importable without a display and without loading any model.

Heavy libraries (dlib, onnxruntime, TensorFlow, LiteRT) are imported inside the backends that need them.
"""
