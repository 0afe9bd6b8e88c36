"""Where dlib's model files are: the ``face_recognition_models`` package, found without importing it.

(Importing ``face_recognition_models`` needs ``pkg_resources`` and calls ``quit()`` when that fails.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from common.errors import WeightsError

DLIB_FILES = {
    "hog": None,
    "cnn": "mmod_human_face_detector.dat",
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
}


def dlib_model_path(key: str) -> Path:
    """Path of dlib's model file ``key`` (a key of :data:`DLIB_FILES`).

    Raises:
        WeightsError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "dlib's model files are missing: the package face_recognition_models is not installed; "
            "run `pip install -r requirements.txt`"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / str(DLIB_FILES[key])
    if not path.is_file():
        raise WeightsError(f"dlib model file {path} is missing: reinstall face_recognition_models")
    return path
