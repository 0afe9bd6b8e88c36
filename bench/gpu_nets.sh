#!/usr/bin/env bash
# The trainable networks at their paper sizes with a larger budget, for a GPU (H100/H200 class): margin
# (MobileNetV2 α 1.0, 112 px, ArcFace m 0.5 s 64 and the CosFace recipe), DeepFace (152 px, width 1, F7 4096) and
# the Siamese verifier (112 px, width 1). Each prints its training wall time, images per second and accuracy
# before → after on lfw-dev pairs of people never trained on (bench/out/bench_margin-gpu-*.json, bench_nets.json).
#
# Needs ../shared/data/lfw-dev (or ROLLCALL_SHARED). The first run detects and aligns the faces (HOG) and caches
# the crops. Optional argument SCALE (default 1) multiplies every budget, e.g. `bench/gpu_nets.sh 0.1` for a check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
SCALE=${1:-1}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi: TensorFlow will say what it finds"
"$PY" -c "import tensorflow as tf; print('TensorFlow', tf.__version__, 'GPUs:', tf.config.list_physical_devices('GPU'))"
budget() { "$PY" -c "import math, sys; print(max(1, math.ceil($1 * float(sys.argv[1]))))" "$SCALE"; }
"$PY" bench/bench_margin.py --steps "$(budget 6000)" --people 120 --min-photos 6 --alpha 1.0 --embedding 512 \
  --head cos --scale 30 --margin 0.2 --lr 0.1 --tag gpu-cos
"$PY" bench/bench_margin.py --steps "$(budget 6000)" --people 120 --min-photos 6 --alpha 1.0 --embedding 512 \
  --head arc --scale 0 --margin -1 --lr 0.01 --tag gpu-arc64
"$PY" bench/bench_nets.py deepface --epochs "$(budget 60)" --input-size 152 --width 1 --embedding 4096
"$PY" bench/bench_nets.py siamese --epochs "$(budget 60)" --input-size 112 --width 1 --embedding 128
