"""Fine-tuning embedding models with triplet loss (no Qt; TensorFlow is imported only inside functions).

* :mod:`models.train.losses` — online semi-hard (FaceNet) and batch-hard triplet loss with mining.
* :mod:`models.train.sampling` — P×K batches with a fixed seed, face augmentation.
* :mod:`models.train.data` — face sets from folder trees (the app's detect → align) and held-out splits.
* :mod:`models.train.networks` — the pretrained FaceNet-128 split into backbone and head, ResNet50 → 128-d.
* :mod:`models.train.backbone` — head mode's frozen backbone through onnxruntime, and its features.
* :mod:`models.train.trainer` — the training loop (head or full mode), checkpoints, cancel, early stopping.
* :mod:`models.train.metrics` — verification figures on labelled embeddings.
* :mod:`models.train.export` — ONNX / SavedModel / TFLite export of a tuned model.
* :mod:`models.train.locally_connected` — ``LocallyConnected2D`` for Keras 3 (unshared weights, vectorised).
* :mod:`models.train.deepface` — DeepFace (Taigman 2014): classifier over identities, F7 as the embedding.
* :mod:`models.train.siamese` — the Siamese verifier (shared CNN, |e1−e2|, sigmoid) and its TF Serving export.
* :mod:`models.train.net_data` — split by person, balanced pairs, resized crops for those two.
"""
