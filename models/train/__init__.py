"""Fine-tuning embedding models with triplet loss (no Qt; TensorFlow is imported only inside functions).

* :mod:`models.train.losses` — online semi-hard (FaceNet) and batch-hard triplet loss with mining.
* :mod:`models.train.sampling` — P×K batches with a fixed seed, face augmentation.
* :mod:`models.train.data` — face sets from folder trees (the app's detect → align) and held-out splits.
* :mod:`models.train.networks` — the pretrained FaceNet-128 split into backbone and head, ResNet50 → 128-d.
* :mod:`models.train.backbone` — head mode's frozen backbone through onnxruntime, and its features.
* :mod:`models.train.trainer` — the training loop (head or full mode), checkpoints, cancel, early stopping.
* :mod:`models.train.metrics` — verification figures on labelled embeddings.
* :mod:`models.train.export` — ONNX / SavedModel / TFLite export of a tuned model.
"""
