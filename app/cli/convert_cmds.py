"""``convert vgg-face | arcface``: published Keras weights to the files the backends run.

* ``convert vgg-face --weights vgg_face_weights.h5 --out vgg_face.onnx``: the VGG-Face network truncated to
  its 4096-d fc7 embedding, ONNX opset 13 (run by the ``vgg-face`` backend).
* ``convert arcface --weights arcface_weights.h5 --out arcface.tflite [--int8 --calibration DIR]``: the
  ArcFace-ResNet34 network as TFLite, float32 or int8-quantised (run by the ``arcface`` backend).

``models fetch``/``models import`` run the same converters into the cache; these commands write anywhere.
TensorFlow is imported only when a conversion runs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext
from common.errors import InvalidInput, WeightsError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert published Keras weights to ONNX/TFLite")
    csub = p.add_subparsers(dest="convert_command", metavar="MODEL", required=True)
    vgg = csub.add_parser("vgg-face", help="vgg_face_weights.h5 → truncated (fc7, 4096-d) ONNX, opset 13")
    vgg.add_argument("--weights", type=Path, required=True, metavar="FILE.h5", help="deepface's vgg_face_weights.h5")
    vgg.add_argument("--out", type=Path, required=True, metavar="FILE.onnx", help="where to write the ONNX model")
    vgg.set_defaults(func=cmd_vggface)
    arc = csub.add_parser("arcface", help="arcface_weights.h5 (ResNet34) → TFLite, float32 or int8")
    arc.add_argument("--weights", type=Path, required=True, metavar="FILE.h5", help="deepface's arcface_weights.h5")
    arc.add_argument("--out", type=Path, required=True, metavar="FILE.tflite", help="where to write the TFLite model")
    arc.add_argument("--int8", action="store_true", help="quantise weights and activations to int8")
    arc.add_argument("--calibration", type=Path, metavar="DIR",
                     help="with --int8: a folder of face images (best: ArcFace-aligned 112×112 crops)")
    arc.set_defaults(func=cmd_arcface)


def _check_paths(weights: Path, out: Path, suffix: str) -> None:
    if not weights.is_file():
        raise WeightsError(f"weights file {weights} does not exist; give the path of the downloaded .h5 file")
    if out.suffix.lower() != suffix:
        raise InvalidInput(f"--out {out} should end in {suffix}")
    if out.parent and not out.parent.exists():
        raise InvalidInput(f"--out {out}: the folder {out.parent} does not exist")


def cmd_vggface(args: argparse.Namespace, ctx: AppContext) -> int:
    from models.convert import vggface

    _check_paths(args.weights, args.out, ".onnx")
    print(f"converting {args.weights} to ONNX (a minute or two for the real weights) ...", file=sys.stderr)
    vggface.convert(args.weights, args.out)
    print(f"wrote {args.out}: VGG-Face fc7 embedding, opset {vggface.OPSET}; "
          f"use it with `python main.py models import vgg-face {args.out}`")
    return 0


def cmd_arcface(args: argparse.Namespace, ctx: AppContext) -> int:
    from models.convert import arcface_resnet

    _check_paths(args.weights, args.out, ".tflite")
    if args.int8 and args.calibration is None:
        raise InvalidInput("--int8 needs --calibration DIR, a folder of face images to calibrate the quantisation")
    if args.calibration is not None and not args.int8:
        raise InvalidInput("--calibration is only used with --int8")
    kind = "int8" if args.int8 else "float32"
    print(f"converting {args.weights} to {kind} TFLite (about a minute) ...", file=sys.stderr)
    arcface_resnet.convert(args.weights, args.out, args.calibration if args.int8 else None)
    print(f"wrote {args.out}: ArcFace-ResNet34, {kind}; use it with `python main.py models import arcface {args.out}`")
    return 0
