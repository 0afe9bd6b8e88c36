"""Converters from published weights to the files Rollcall runs (ONNX, TFLite).

Each converter is a module with a ``convert(src: Path, dst: Path) -> None`` function; the weights manifest
(``resources/weights.json``) names it as ``"package.module:function"``. Converters import TensorFlow inside
their functions, so importing this package stays cheap.
"""
