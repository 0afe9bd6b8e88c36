"""The architectures ``train --arch NAME`` can train: one registry table, one entry per architecture.

An entry says what the architecture is, its defaults in words (for ``--help``), the defaults the command line
fills in (mode, learning rate, weight decay), and how the training service builds it: ``base`` names a
fine-tune base model of :mod:`models.train.networks` (the triplet architectures), ``module`` a module of
``models.train`` that builds the network and its training job (imported only when used). An entry with
neither is listed but not available in this build. No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import InvalidInput


@dataclass(frozen=True)
class Arch:
    """One trainable architecture.

    Attributes:
        name: the ``--arch`` value. summary: what it is, one line. defaults: its defaults, one line (``--help``).
        family: ``triplet`` (P×K batches, triplet loss on a fine-tune base), ``margin`` (classifier over
            identities through a margin head) or ``net`` (DeepFace and the Siamese verifier, trained by
            :mod:`app.services.net_training` and measured on held-out people).
        base: fine-tune base model (triplet family). module: ``models.train`` module implementing the family.
        mode, learning_rate, weight_decay: what the command line uses when the flags are not given.
    """

    name: str
    summary: str
    defaults: str
    family: str = ""
    base: str | None = None
    module: str | None = None
    mode: str = "head"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4

    @property
    def available(self) -> bool:
        return self.base is not None or self.module is not None


ARCHS: dict[str, Arch] = {
    "facenet": Arch("facenet", "FaceNet-128 (Inception-ResNet-v1), pretrained, fine-tuned with triplet loss",
                    "160×160 box-margin crops, head mode, triplet margin 0.2 semi-hard, AdamW 1e-3, weight decay 1e-4",
                    "triplet", base="facenet"),
    "resnet50-triplet": Arch("resnet50-triplet", "ResNet50 → 128-d from scratch with triplet loss (needs a large data set)",
                             "160×160, full mode, triplet margin 0.2 semi-hard, AdamW 1e-3, weight decay 1e-4",
                             "triplet", base="resnet50", mode="full"),
    "margin": Arch("margin", "keras.applications backbone + output block, classifier through an ArcFace/CosFace/"
                   "SphereFace head (JHFace / arcface-tf2)",
                   "--backbone mobilenetv2, --head arc (m 0.5, s 64; cos 0.35/64, sphere 1.35/30), --embedding 512, "
                   "112×112 ArcFace alignment, full mode, SGD momentum 0.9 at 0.01, weight decay 5e-4; exports ONNX, "
                   "TFLite float32 and int8", "margin", module="models.train.margin", mode="full",
                   learning_rate=0.01, weight_decay=5e-4),
    "deepface": Arch("deepface", "DeepFace (Taigman et al. 2014), locally connected layers, trained from scratch",
                     "152×152 box-margin crops, C1-M2-C3, locally connected L4-L6, F7 4096 (the embedding; "
                     "--embedding), F8 softmax, SGD momentum 0.9, peak 0.01×batch/128 with warm-up then cosine, "
                     "batch 32; measured on held-out people (--holdout = share of people)", "net", module="models.train.deepface", mode="full"),
    "siamese": Arch("siamese", "Siamese verifier (shared CNN, |difference|, sigmoid), trained from scratch",
                    "112×112 anchor/verification pairs, branch embedding 128 (--embedding), |e1−e2| → dense → "
                    "sigmoid, Adam 1e-3, balanced pairs, batch 32; measured on held-out people", "net",
                    module="models.train.siamese", mode="full"),
}


def get_arch(name: str) -> Arch:
    """The architecture called ``name``.

    Raises:
        InvalidInput: unknown name (the message lists the known ones), or one not available in this build.
    """
    try:
        arch = ARCHS[name]
    except KeyError:
        raise InvalidInput(f"unknown architecture {name!r}; use one of {', '.join(ARCHS)}") from None
    if not arch.available:
        ready = ", ".join(a.name for a in ARCHS.values() if a.available)
        raise InvalidInput(f"--arch {name} is not available in this build; use one of {ready}")
    return arch


def arch_for_base(base: str) -> Arch:
    """The triplet architecture whose fine-tune base is ``base`` (``--base`` without ``--arch``).

    Raises:
        InvalidInput: no architecture trains that base.
    """
    for arch in ARCHS.values():
        if arch.base == base:
            return arch
    bases = ", ".join(a.base for a in ARCHS.values() if a.base)
    raise InvalidInput(f"unknown base model {base!r}; use one of {bases}")


def help_text(width: int = 79) -> str:
    """Every architecture and its defaults, one wrapped paragraph each, for ``train --help``."""
    import textwrap

    return "\n".join(textwrap.fill(f"{a.name}: {a.defaults}", width, initial_indent="  ", subsequent_indent="    ",
                                    break_on_hyphens=False) for a in ARCHS.values())
