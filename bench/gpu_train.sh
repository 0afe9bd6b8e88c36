#!/usr/bin/env bash
# Full-mode fine-tuning speed on a GPU (H100/H200 class): FaceNet-128, every layer trains (BatchNorm frozen),
# mixed precision + XLA, 1 000 lfw-dev photos × 10 epochs, P×K = 16×4. Prints the device, the training wall time
# and images per second (also written to bench/out/bench_train.json under "gpu").
#
# Needs: the FaceNet weights in ROLLCALL_CACHE (`python main.py models fetch facenet`; copy the cache folder over
# when the GPU machine has no network) and ../shared/data/lfw-dev (or ROLLCALL_SHARED). The first run detects and
# aligns the 1 000 faces (HOG, about a minute) and caches the crops beside the weights.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no nvidia-smi: TensorFlow will say what it finds"
"$PY" -c "import tensorflow as tf; print('TensorFlow', tf.__version__, 'GPUs:', tf.config.list_physical_devices('GPU'))"
# Optional arguments PHOTOS EPOCHS make a smoke check, e.g. `CUDA_VISIBLE_DEVICES= bench/gpu_train.sh 64 1` on a CPU
# (written under "gpu_smoke" instead of "gpu").
if [ $# -ge 2 ]; then
  "$PY" bench/bench_train.py "gpu:$1:$2"
else
  "$PY" bench/bench_train.py gpu
fi
