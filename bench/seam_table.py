#!/usr/bin/env python3
"""Tile seams of `gpen upscale` on a real photo with the real Real-ESRGAN x4plus weights.

What: crops a small piece of the Solvay photo (faces and suit edges), upscales it once
untiled (`--tile-size 0`) and then in 32-pixel tiles at several pads, each with
`--tile-blend hard` (Real-ESRGAN's crop: every tile keeps its core) and `--tile-blend auto`
(our blend: neighbours mixed in a narrow band around each seam). For every run it prints
the whole-image PSNR against the untiled output, the PSNR over 8-px bands around the seams
(output pixels within 4 px of a core boundary x 4) and the wall time, as a Markdown table.
It also writes a zoomed picture of one seam crossing at one pad: untiled, hard crop, our
blend, |hard - untiled| x 16 and |blend - untiled| x 16, side by side.

Why: issue 11 asks that the blend never lose to the hard crop and reach >= 45 dB in the
seam bands at pad 32. Tiled output has to be judged against untiled output, not by eye
(../shared/docs/tiling-notes.md), and on real weights, since random weights spread
context differently.

Only numpy and the standard library: PNGs are decoded and encoded here (8-bit RGB/RGBA,
non-interlaced).

  python3 bench/seam_table.py --gpen /tmp/gpen-seam/gpen \
      --model models/realesrgan-x4plus.safetensors --work /tmp/seam
"""

import argparse
import math
import os
import re
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def read_png(path):
    """8-bit RGB or RGBA, non-interlaced PNG -> uint8 array (h, w, channels)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != PNG_SIG:
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    channels = {2: 3, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA non-interlaced PNGs (got depth "
                         f"{depth}, colour type {ctype}, interlace {interlace})")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    stride = w * channels
    raw = raw.reshape(h, stride + 1)
    filters, rows = raw[:, 0], raw[:, 1:].astype(np.int32)
    out = np.zeros((h, stride), np.int32)
    bpp = channels
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f, cur = filters[y], rows[y]
        if f == 0:
            line = cur.copy()
        elif f == 2:  # up
            line = (cur + prev) & 255
        elif f == 1:  # sub: a running sum per channel, vectorised
            line = np.cumsum(cur.reshape(-1, bpp), axis=0).reshape(-1) & 255
        elif f in (3, 4):  # average, Paeth: each byte needs the one decoded before it
            c, up, line_l = cur.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = line_l[i - bpp] if i >= bpp else 0
                b = up[i]
                if f == 3:
                    pred = (a + b) >> 1
                else:
                    cc = up[i - bpp] if i >= bpp else 0
                    p = a + b - cc
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - cc)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else cc)
                line_l[i] = (c[i] + pred) & 255
            line = np.array(line_l, np.int32)
        else:
            raise ValueError(f"{path}: bad filter {f} in row {y}")
        out[y] = line
        prev = line
    return out.astype(np.uint8).reshape(h, w, channels)


def write_png(path, img):
    """uint8 (h, w, 3 or 4) -> RGB or RGBA PNG, filter 'up' on every row, level 9."""
    img = np.ascontiguousarray(img, np.uint8)
    h, w, c = img.shape
    assert c in (3, 4)
    rows = img.reshape(h, w * c).astype(np.int16)
    up = np.vstack([rows[:1], (rows[1:] - rows[:-1])]) & 255
    filt = np.full((h, 1), 2, np.uint8)
    filt[0] = 0
    raw = np.hstack([filt, up.astype(np.uint8)]).tobytes()

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    with open(path, "wb") as f:
        f.write(PNG_SIG)
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def psnr(a, b, mask=None):
    d = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        d = d[mask]
    mse = float(np.mean(d * d))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def balanced_cores(length, tile):
    """Core boundaries along one axis (alignment 1), as the engine's TileAxis makes them."""
    n = -(-length // tile)
    return [length * k // n for k in range(n + 1)]


def seam_mask(h, w, scale, ys, xs, half=4):
    """Output pixels within `half` px of an inner core boundary (x scale): 2*half wide bands."""
    m = np.zeros((h, w), bool)
    for b in ys[1:-1]:
        m[max(0, b * scale - half):b * scale + half, :] = True
    for b in xs[1:-1]:
        m[:, max(0, b * scale - half):b * scale + half] = True
    return m


def run_gpen(args, inp, out, extra):
    """Runs gpen; returns (wall seconds, stderr). With --reuse, an existing output is kept
    and its run's stderr read back from the log beside it (wall time then None)."""
    log = out + ".log"
    if args.reuse and os.path.exists(out) and os.path.exists(log):
        with open(log) as f:
            return None, f.read()
    cmd = [args.gpen, "upscale", "-m", args.model, "-i", inp, "-o", out,
           "--device", "cpu", "--threads", str(args.threads)] + extra
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    with open(log, "w") as f:
        f.write(p.stderr)
    return wall, p.stderr


def plan_lines(stderr):
    return [" ".join(l.split()) for l in stderr.splitlines()
            if re.search(r"tiles:|planned peak", l)]


def fmt(v):
    return "identical" if math.isinf(v) else f"{v:.2f}"


def fmt_s(v):
    return "-" if v is None else f"{v:.1f}"


def zoom_panels(ref, hard, blend, cy, cx, half, zoom, amp):
    """Five panels around the seam crossing (cy, cx), output pixels: untiled, hard, blend,
    |hard - ref| * amp, |blend - ref| * amp; nearest-neighbour zoom, with red ticks in
    the white margins marking the seam lines (drawn outside the pixels, not over them)."""
    h, w = ref.shape[:2]
    y0, x0 = max(0, cy - half), max(0, cx - half)
    y1, x1 = min(h, y0 + 2 * half), min(w, x0 + 2 * half)

    def crop(a):
        return a[y0:y1, x0:x1]

    def diff(a):
        d = np.abs(crop(a).astype(np.int32) - crop(ref).astype(np.int32)) * amp
        return np.clip(d, 0, 255).astype(np.uint8)

    panels = [crop(ref), crop(hard), crop(blend), diff(hard), diff(blend)]
    ph, pw = (y1 - y0) * zoom, (x1 - x0) * zoom
    margin, red = 8, np.array([220, 0, 0], np.uint8)
    sy, sx = (cy - y0) * zoom, (cx - x0) * zoom  # seam lines inside a zoomed panel
    pic = np.full((margin + ph, margin + len(panels) * (pw + margin), 3), 255, np.uint8)
    pic[margin + sy - 2:margin + sy + 2, :margin - 2] = red  # the horizontal seam, left
    for i, p in enumerate(panels):
        left = margin + i * (pw + margin)
        pic[margin:, left:left + pw] = np.repeat(np.repeat(p, zoom, axis=0), zoom, axis=1)
        pic[:margin - 2, left + sx - 2:left + sx + 2] = red  # the vertical seam, above
    return pic


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gpen", default="/tmp/gpen-seam/gpen")
    ap.add_argument("--model", default="models/realesrgan-x4plus.safetensors")
    ap.add_argument("--src", default="/work/shared/images/solvay_conference_1927.png")
    ap.add_argument("--crop", default="560,150,128,96", help="x,y,w,h of the input crop")
    ap.add_argument("--tile", type=int, default=32)
    ap.add_argument("--pads", default="0,16,32,64")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--work", default="/tmp/seam")
    ap.add_argument("--zoom-pad", type=int, default=16)
    ap.add_argument("--zoom-out", default="bench/seam_zoom.png")
    ap.add_argument("--zoom-half", type=int, default=32,
                    help="half-size of the zoom window, output pixels")
    ap.add_argument("--reuse", action="store_true",
                    help="keep outputs already in --work (no wall times): remake table and picture")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    cx, cy, cw, ch = (int(v) for v in args.crop.split(","))
    src = read_png(args.src)[:, :, :3]
    crop = src[cy:cy + ch, cx:cx + cw]
    inp = os.path.join(args.work, "crop.png")
    write_png(inp, crop)
    assert np.array_equal(read_png(inp), crop)
    print(f"input: {args.src} crop x={cx} y={cy} {cw}x{ch} -> {inp}", file=sys.stderr)

    ref_path = os.path.join(args.work, "untiled.png")
    wall0, err = run_gpen(args, inp, ref_path, ["--tile-size", "0"])
    ref = read_png(ref_path)[:, :, :3]
    scale = ref.shape[0] // ch
    print(f"untiled: {fmt_s(wall0)} s; " + " | ".join(plan_lines(err)), file=sys.stderr)
    ys, xs = balanced_cores(ch, args.tile), balanced_cores(cw, args.tile)
    mask = seam_mask(ref.shape[0], ref.shape[1], scale, ys, xs)

    rows, outs = [], {}
    for pad in (int(p) for p in args.pads.split(",")):
        for blend in ("hard", "auto"):
            out = os.path.join(args.work, f"pad{pad}_{blend}.png")
            wall, err = run_gpen(args, inp, out, ["--tile-size", str(args.tile),
                                                  "--tile-pad", str(pad),
                                                  "--tile-blend", blend])
            img = read_png(out)[:, :, :3]
            outs[(pad, blend)] = img
            plan = " | ".join(plan_lines(err))
            print(f"pad {pad} {blend}: {fmt_s(wall)} s; {plan}", file=sys.stderr)
            worst = int(np.abs(img.astype(np.int32) - ref.astype(np.int32)).max())
            rows.append((pad, blend, psnr(img, ref), psnr(img, ref, mask), worst, wall, plan))

    print(f"Input {cw}x{ch} (x={cx}, y={cy}), x{scale} -> {ref.shape[1]}x{ref.shape[0]}; "
          f"cores x {xs}, y {ys} (input px); seam bands cover {mask.mean() * 100:.1f}% of "
          f"the output. Untiled: {fmt_s(wall0)} s.\n")
    print("| tile pad | blend | whole-image PSNR dB | seam-band PSNR dB | max abs diff | wall s |")
    print("|---|---|---|---|---|---|")
    for pad, blend, whole, band, worst, wall, _ in rows:
        name = "hard crop" if blend == "hard" else "ours (auto)"
        print(f"| {pad} | {name} | {fmt(whole)} | {fmt(band)} | {worst} | {fmt_s(wall)} |")
    print()
    for pad, blend, *_ , plan in rows:
        print(f"- pad {pad} {blend}: {plan}")
    losses = []
    byk = {(r[0], r[1]): r for r in rows}
    for pad in sorted({r[0] for r in rows}):
        h, a = byk[(pad, "hard")], byk[(pad, "auto")]
        for i, what in ((2, "whole"), (3, "seam band")):
            if a[i] < h[i]:
                losses.append(f"pad {pad} {what}: ours {fmt(a[i])} < hard {fmt(h[i])} "
                              f"({h[i] - a[i]:.2f} dB)")
    print("\nblend below hard crop: " + ("; ".join(losses) if losses else "nowhere"))

    zp = args.zoom_pad
    if (zp, "hard") in outs:
        # The seam crossing nearest the output's centre.
        sy = min(ys[1:-1], key=lambda b: abs(b - ch / 2)) * scale
        sx = min(xs[1:-1], key=lambda b: abs(b - cw / 2)) * scale
        pic = zoom_panels(ref, outs[(zp, "hard")], outs[(zp, "auto")], sy, sx,
                          args.zoom_half, 4, 16)
        write_png(args.zoom_out, pic)
        print(f"\nzoom: {args.zoom_out}, pad {zp}, crossing at output (x={sx}, y={sy}), "
              f"{2 * args.zoom_half} px square x4, {os.path.getsize(args.zoom_out)} bytes",
              file=sys.stderr)


if __name__ == "__main__":
    main()
