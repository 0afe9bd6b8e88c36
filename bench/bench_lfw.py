"""LFW verification accuracy of each backend through the app's own `eval` command (lfw-dev, 5 folds).

Usage: ``python bench/bench_lfw.py [--backend NAME ...] [--per-fold N]``. Prints one line per backend and
writes ``bench/out/lfw_<backend>.json``. Backends whose weights are not installed are skipped with the reason.
Takes ~20 min per backend for the full 3 000 pairs on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ROLLCALL_SHARED", REPO.parent / "shared"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", help="backend(s) to evaluate (default: dlib)")
    parser.add_argument("--detector", default="hog")
    parser.add_argument("--per-fold", type=int, help="only the first N same/different pairs per fold")
    args = parser.parse_args()
    lfw = SHARED / "data" / "lfw-dev"
    out_dir = REPO / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    for backend in args.backend or ["dlib"]:
        cmd = [sys.executable, str(REPO / "main.py"), "--backend", backend, "--detector", args.detector, "eval",
               "--pairs", str(lfw / "pairs.txt"), "--images", str(lfw / "images"), "--json"]
        if args.per_fold:
            cmd += ["--per-fold", str(args.per_fold)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            print(f"{backend}: skipped: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'}")
            continue
        result = json.loads(proc.stdout)
        (out_dir / f"lfw_{backend}.json").write_text(json.dumps(result, indent=2))
        print(
            f"{backend}/{args.detector}: accuracy {100 * result['accuracy']:.2f} % ± {100 * result['accuracy_std']:.2f} "
            f"({result['pairs']} pairs, {result['folds']} folds), threshold {result['threshold']:.3f} {result['metric']}, "
            f"AUC {result['auc']:.4f}, TAR@FAR=1e-3 {100 * result['tar_at_far']:.1f} %, no face {result['no_face']}, "
            f"{result['seconds']:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
