"""Write a Keras model's weights in the Keras-2 ``save_weights`` h5 layout (as deepface's files are), for the
converter tests that must not depend on real downloaded weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import h5py


def save_keras2_h5(model: Any, path: Path, layer_name: Callable[[int, Any], str]) -> None:
    """Root attribute ``layer_names`` (every layer after the input, named by ``layer_name(index, layer)``),
    per layer a group with ``weight_names`` and one dataset per weight."""
    with h5py.File(path, "w") as f:
        names = []
        for i, layer in enumerate(model.layers[1:], start=1):
            name = layer_name(i, layer)
            names.append(name.encode())
            group = f.create_group(name)
            wnames = [f"{name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = wnames
            for wname, value in zip(wnames, layer.get_weights()):
                group.create_dataset(wname.decode(), data=value)
        f.attrs["layer_names"] = names
