"""``train --arch``: the architectures and their defaults in ``--help``, and bad input refused in one line with
exit code 1 before any TensorFlow work."""

from __future__ import annotations

from pathlib import Path

import pytest

import main
from common.errors import InvalidInput
from models.train.archs import ARCHS, get_arch


def _error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    try:
        code = main.run(list(args))
    except SystemExit as exc:  # argparse's usage errors (one line, exit 1 as well)
        code = exc.code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> str:
    (tmp_path / "d" / "a").mkdir(parents=True)
    return str(tmp_path / "d")


def test_help_lists_every_architecture_with_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main.run(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0
    for name in ARCHS:
        assert f"{name}:" in out
    assert "--head arc (m 0.5, s 64; cos 0.35/64, sphere 1.35/30)" in out and "--embedding 512" in out
    assert "SGD momentum 0.9 at 0.01, weight decay 5e-4" in out
    assert "locally connected L4-L6" in out and "Adam 1e-3, balanced pairs" in out


@pytest.mark.parametrize("args, words", [
    (("--arch", "vgg"), ("invalid choice: 'vgg'", "facenet", "resnet50-triplet", "margin", "deepface", "siamese")),
    (("--arch", "deepface", "--head", "cos"), ("--head only applies to --arch margin (this is --arch deepface)",)),
    (("--arch", "siamese", "--backbone", "resnet50"), ("--backbone only applies to --arch margin",)),
    (("--arch", "facenet", "--width", "0.5"), ("--width only applies to --arch margin, deepface, siamese",)),
    (("--arch", "margin", "--width", "2"), ("MobileNetV2 width 2.0 is out of range",)),
    (("--arch", "margin", "--backbone", "resnet50", "--width", "0.5"), ("--width", "does not apply to --backbone resnet50")),
    (("--arch", "margin", "--backbone", "vgg16"), ("unknown backbone 'vgg16'", "mobilenetv2, resnet50, efficientnetb0")),
    (("--arch", "margin", "--head", "triplet"), ("unknown margin head 'triplet'", "arc, cos, sphere")),
    (("--arch", "margin", "--embedding", "256"), ("--embedding 256", "128 or 512")),
    (("--arch", "margin", "--embedding", "big"), ("--embedding", "invalid int value")),
    (("--arch", "margin", "--mode", "head"), ("--mode full",)),
    (("--arch", "margin", "--base", "facenet"), ("--base facenet does not go with --arch margin",)),
    (("--arch", "facenet", "--head", "cos"), ("--head only applies to --arch margin",)),
    (("--base", "vgg"), ("unknown base model 'vgg'", "facenet, resnet50")),
    (("--arch", "deepface", "--head-scale", "30"), ("--head-scale only applies to --arch margin",)),
    (("--arch", "margin", "--head-scale", "0"), ("--head-scale 0.0 is out of range",)),
    (("--arch", "margin", "--head-margin", "-0.1"), ("--head-margin -0.1 is out of range",)),
])
def test_bad_input_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str], folder: str, args: tuple[str, ...],
                                         words: tuple[str, ...]) -> None:
    line = _error(capsys, "train", *args, "--data", folder)
    for word in words:
        assert word in line


def test_margin_flags_take_the_architecture_defaults() -> None:
    from app.cli.train_cmd import spec_from_args
    from main import build_parser

    args = build_parser().parse_args(["train", "--arch", "margin", "--data", "d"])
    spec = spec_from_args(args)
    assert (spec.arch, spec.mode, spec.learning_rate, spec.weight_decay) == ("margin", "full", 0.01, 5e-4)
    assert (spec.backbone, spec.head, spec.embedding) == ("mobilenetv2", "arc", 512)
    args = build_parser().parse_args(["train", "--data", "d"])
    spec = spec_from_args(args)
    assert (spec.arch, spec.base, spec.mode, spec.learning_rate) == ("facenet", "facenet", "head", 1e-3)
    args = build_parser().parse_args(["train", "--arch", "resnet50-triplet", "--data", "d"])
    assert (spec_from_args(args).base, spec_from_args(args).mode) == ("resnet50", "full")


def test_one_option_set_serves_every_architecture() -> None:
    """``--embedding``/``--image-size``/``--width`` reach DeepFace and Siamese as their F7/branch size, input
    side and filter multiplier; main's ``--input-size``/``--net-embedding`` spellings still work."""
    from app.cli.train_cmd import spec_from_args
    from app.cli.train_nets import spec_from_args as net_spec_from_args
    from main import build_parser

    args = build_parser().parse_args(["train", "--arch", "deepface", "--embedding", "256", "--image-size", "80",
                                      "--width", "0.25", "--data", "d"])
    spec = net_spec_from_args(args)
    assert (spec.arch, spec.embedding_size(), spec.input_size(), spec.width) == ("deepface", 256, 80, 0.25)
    args = build_parser().parse_args(["train", "--arch", "siamese", "--input-size", "96", "--net-embedding", "64",
                                      "--data", "d"])
    spec = net_spec_from_args(args)
    assert (spec.input_size(), spec.embedding_size(), spec.width) == (96, 64, 1.0)
    args = build_parser().parse_args(["train", "--arch", "margin", "--width", "0.35", "--image-size", "96", "--data", "d"])
    assert (spec_from_args(args).alpha, spec_from_args(args).image_size) == (0.35, 96)


def test_registry_names_every_family() -> None:
    assert {a.family for a in ARCHS.values()} == {"triplet", "margin", "net"}
    assert get_arch("margin").module == "models.train.margin" and get_arch("deepface").module == "models.train.deepface"
    with pytest.raises(InvalidInput, match="unknown architecture 'vgg'"):
        get_arch("vgg")


def test_a_margin_run_resumes_with_its_own_architecture(tmp_path: Path) -> None:
    """``train --resume`` rebuilds the spec from the run's ``spec.json``: the margin fields come back, and a
    field this version does not know (a later version's run) is ignored."""
    import json
    from dataclasses import asdict

    from app.services.training import SPEC, TrainSpec, resumable_spec

    spec = TrainSpec(arch="margin", mode="full", head="cos", embedding=128, image_size=96, alpha=0.35,
                     learning_rate=0.01, person_ids=(3, 5))
    (tmp_path / SPEC).write_text(json.dumps({**asdict(spec), "from_the_future": 1}), encoding="utf-8")
    assert resumable_spec(tmp_path) == spec


def test_the_margin_head_takes_the_scale_and_margin_given() -> None:
    from app.cli.train_cmd import spec_from_args
    from main import build_parser
    from models.train.heads import make_head

    args = build_parser().parse_args(["train", "--arch", "margin", "--head", "cos", "--head-margin", "0.2",
                                      "--head-scale", "30", "--data", "d"])
    spec = spec_from_args(args)
    assert (spec.head, spec.head_margin, spec.head_scale) == ("cos", 0.2, 30.0)
    head = make_head(spec.head, 5, spec.head_margin, spec.head_scale)
    assert (head.margin, head.scale) == (0.2, 30.0)
    default = spec_from_args(build_parser().parse_args(["train", "--arch", "margin", "--data", "d"]))
    assert (default.head_margin, default.head_scale) == (None, None)
