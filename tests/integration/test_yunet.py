"""The ``yunet`` detector (cv2.FaceDetectorYN) with the shared YuNet model: boxes, five ArcFace-order
landmarks, and the ArcFace pipeline on top of it."""

from __future__ import annotations

import numpy as np
import pytest

from common.errors import BackendUnavailable
from models.detectors import DetectorOptions, create_detector
from models.engine import EngineConfig, FaceEngine
from models.imageio import load_image
from tests.conftest import need_shared


def _yunet():
    model = need_shared("models", "face_detection_yunet_2023mar.onnx")
    return create_detector("yunet", DetectorOptions(model_path=str(model)))


def test_finds_both_faces_with_arcface_order_landmarks() -> None:
    image = load_image(need_shared("data", "face-recognition-examples", "examples", "two_people.jpg"))
    dets = _yunet().detect(image)
    assert len(dets) == 2
    assert dets[0].score >= dets[1].score > 0.6
    for det in dets:
        assert det.landmarks.scheme == "five"
        eye_l, eye_r, nose, mouth_l, mouth_r = det.landmarks.five()
        assert eye_l[0] < eye_r[0] and mouth_l[0] < mouth_r[0]  # image-left first
        assert max(eye_l[1], eye_r[1]) < nose[1] < min(mouth_l[1], mouth_r[1])
        x0, y0 = det.box.x, det.box.y
        assert all(x0 <= x <= x0 + det.box.w and y0 <= y <= y0 + det.box.h for x, y in det.landmarks.points)


def test_mirrored_image_keeps_image_left_eye_first() -> None:
    image = load_image(need_shared("data", "face-recognition-examples", "examples", "obama.jpg"))
    for img in (image, np.ascontiguousarray(image[:, ::-1])):
        (det,) = _yunet().detect(img)
        pts = det.landmarks.five()
        assert pts[0, 0] < pts[1, 0]


def test_large_image_is_downscaled_and_mapped_back() -> None:
    image = load_image(need_shared("data", "face-recognition-examples", "examples", "obama.jpg"))
    model = need_shared("models", "face_detection_yunet_2023mar.onnx")
    full = create_detector("yunet", DetectorOptions(model_path=str(model))).detect(image)[0]
    small = create_detector("yunet", DetectorOptions(model_path=str(model), max_side=max(image.shape[:2]) // 2)).detect(image)[0]
    assert full.box.iou(small.box) > 0.8


def test_without_model_file_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROLLCALL_YUNET_MODEL", raising=False)
    with pytest.raises(BackendUnavailable, match="ROLLCALL_YUNET_MODEL"):
        create_detector("yunet", DetectorOptions())


def test_arcface_on_yunet_landmarks_matches_the_same_person(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLCALL_YUNET_MODEL", str(need_shared("models", "face_detection_yunet_2023mar.onnx")))
    engine = FaceEngine(EngineConfig(backend="arcface", detector="yunet",
                                     model_path=need_shared("models", "mobilefacenet_128d_float32.tflite")))
    examples = need_shared("data", "face-recognition-examples", "examples")
    obama1, obama2, biden = (engine.analyze(load_image(examples / n))[0][1] for n in ("obama.jpg", "obama2.jpg", "biden.jpg"))
    assert float(obama1 @ obama2) > engine.threshold > float(obama1 @ biden)
