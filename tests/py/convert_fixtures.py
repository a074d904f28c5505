#!/usr/bin/env python3
"""Test setup: convert every GPEN and RRDBNet fixture checkpoint into OUT_DIR/<set>.safetensors.

Usage: convert_fixtures.py OUT_DIR [ROOT ...]

Each ROOT holds gpen/<set>/model.pth and rrdb/<set>/model.pth; the first ROOT that
has a set wins. Without
ROOTs: the repository's tests/data, then ../shared/fixtures (see fixture_paths.py).
A ROOT that does not exist is reported and skipped: tests/data alone (tiny64) is
enough, so this succeeds without ../shared. Writes <set>.safetensors and
<set>.fp16.safetensors for each set.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
import convert  # noqa: E402
import fixture_paths  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 1
    out, roots = sys.argv[1], sys.argv[2:] or fixture_paths.roots()
    os.makedirs(out, exist_ok=True)
    done = set()
    for root, kind in ((r, k) for r in roots for k in ("gpen", "rrdb")):
        gdir = os.path.join(root, kind)
        if not os.path.isdir(gdir):
            print(f"no {kind} fixtures in {root} (skipped)")
            continue
        for name in sorted(os.listdir(gdir)):
            src = os.path.join(gdir, name, "model.pth")
            if name in done or not os.path.isfile(src):
                continue
            convert.convert(src, os.path.join(out, name + ".safetensors"), quiet=True)
            convert.convert(src, os.path.join(out, name + ".fp16.safetensors"), dtype="fp16", quiet=True)
            done.add(name)
            print(f"converted {name} from {gdir}")
    for need in ("tiny64", "rrdb_x1_tiny", "rrdb_x2_tiny", "rrdb_x4_tiny"):
        if need not in done:
            print(f"{need} not found: it ships in tests/data and the model tests need it", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
