#!/usr/bin/env python3
"""Test setup: convert every GPEN fixture checkpoint into OUT_DIR/<set>.safetensors."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import convert  # noqa: E402


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    gdir = os.path.join(fixtures, "gpen")
    for name in sorted(os.listdir(gdir)):
        src = os.path.join(gdir, name, "model.pth")
        if os.path.isfile(src):
            convert.convert(src, os.path.join(out, name + ".safetensors"), quiet=True)
            convert.convert(src, os.path.join(out, name + ".fp16.safetensors"), dtype="fp16", quiet=True)
            print(f"converted {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
