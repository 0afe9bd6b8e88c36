"""``identify`` and ``verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import print_json, printable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.context import AppContext


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("identify", help="name every face in the images (or Unknown); a folder means the images in it")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("verify", help="do two photos show the same person?")
    p.add_argument("image1", metavar="IMAGE1")
    p.add_argument("image2", metavar="IMAGE2")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_verify)


def cmd_identify(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.enrollment import expand_paths
    from app.services.recognition import identify_paths

    from app.cli.common import stderr_progress
    from app.services.backends import ensure_embeddings

    # a folder stands for the images directly inside it, sorted; a file that cannot be read is reported below
    paths = [str(p) for raw in args.images for p in (expand_paths([raw]) if Path(raw).is_dir() else [raw])]
    ensure_embeddings(ctx, stderr_progress)  # after a backend switch: embed the stored crops first
    gallery = ctx.gallery()
    report = []
    for item in identify_paths(ctx, paths, gallery):  # an unreadable image is reported, the rest still run
        faces = [
            {"box": r.detection.box.as_list(), "name": r.match.name, "person_id": r.match.person_id, "score": round(r.match.score, 4)}
            for r in item.faces
        ]
        report.append({"image": item.image, "faces": faces, **({"error": item.problem} if item.problem else {})})
    failed = [entry for entry in report if "error" in entry]
    if args.json:
        print_json(report)
        return 1 if failed else 0
    if len(gallery) == 0:
        print("note: nobody is enrolled for this backend, so every face is Unknown")
    for entry in report:
        if "error" in entry:
            print(f"error: {entry['error']}", file=sys.stderr)
        elif not entry["faces"]:
            print(f"{entry['image']}: no face found")
        for face in entry["faces"]:
            who = printable(face["name"] or "Unknown")
            print(f"{entry['image']}: {who} (score {face['score']:.3f}) at {face['box']}")
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.recognition import verify_paths

    v = verify_paths(ctx, args.image1, args.image2)
    if args.json:
        print_json(
            {"same": v.same, "score": round(v.score, 4), "threshold": v.threshold, "metric": v.metric, "backend": v.backend}
        )
    else:
        verdict = "same person" if v.same else "different people"
        cmp = v.symbol
        print(f"{verdict}: {v.metric} {v.score:.3f} (same if {cmp} {v.threshold}, backend {v.backend})")
    return 0
