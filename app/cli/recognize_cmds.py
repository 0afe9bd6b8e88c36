"""``identify`` and ``verify``."""

from __future__ import annotations

import argparse

from app.cli.common import print_json
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
    from app.services.recognition import identify_image
    from models.imageio import load_image

    from app.cli.common import stderr_progress
    from app.services.backends import ensure_embeddings

    paths = [str(p) for p in expand_paths(args.images)]  # a folder: the images directly inside it, sorted
    ensure_embeddings(ctx, stderr_progress)  # after a backend switch: embed the stored crops first
    gallery = ctx.gallery()
    report = []
    for path in paths:
        results = identify_image(ctx, load_image(path), gallery)
        faces = [
            {"box": r.detection.box.as_list(), "name": r.match.name, "person_id": r.match.person_id, "score": round(r.match.score, 4)}
            for r in results
        ]
        report.append({"image": path, "faces": faces})
    if args.json:
        print_json(report)
        return 0
    if len(gallery) == 0:
        print("note: nobody is enrolled for this backend, so every face is Unknown")
    for entry in report:
        if not entry["faces"]:
            print(f"{entry['image']}: no face found")
        for face in entry["faces"]:
            who = face["name"] or "Unknown"
            print(f"{entry['image']}: {who} (score {face['score']:.3f}) at {face['box']}")
    return 0


def cmd_verify(args: argparse.Namespace, ctx: AppContext) -> int:
    from app.services.recognition import verify_paths

    v = verify_paths(ctx, args.image1, args.image2)
    if args.json:
        print_json(
            {"same": v.same, "score": round(v.score, 4), "threshold": v.threshold, "metric": v.metric, "backend": v.backend}
        )
    else:
        verdict = "same person" if v.same else "different people"
        cmp = "<=" if v.metric == "l2" else ">="
        print(f"{verdict}: {v.metric} {v.score:.3f} (same if {cmp} {v.threshold}, backend {v.backend})")
    return 0
