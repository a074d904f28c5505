#!/usr/bin/env python3
"""Test setup: convert every GPEN fixture checkpoint into OUT_DIR/<set>.safetensors.

Usage: convert_fixtures.py OUT_DIR [ROOT ...]

Each ROOT holds gpen/<set>/model.pth; the first ROOT that has a set wins. Without
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
    for root in roots:
        gdir = os.path.join(root, "gpen")
        if not os.path.isdir(gdir):
            print(f"no GPEN fixtures in {root} (skipped)")
            continue
        for name in sorted(os.listdir(gdir)):
            src = os.path.join(gdir, name, "model.pth")
            if name in done or not os.path.isfile(src):
                continue
            convert.convert(src, os.path.join(out, name + ".safetensors"), quiet=True)
            convert.convert(src, os.path.join(out, name + ".fp16.safetensors"), dtype="fp16", quiet=True)
            done.add(name)
            print(f"converted {name} from {gdir}")
    if "tiny64" not in done:
        print("tiny64 not found: it ships in tests/data/gpen and every model test needs it", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
