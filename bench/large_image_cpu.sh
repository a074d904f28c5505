#!/usr/bin/env bash
# Large images on the CPU within a RAM budget (issue 11): `gpen upscale` x4 on a 12 MP
# photo and on a real-model crop, each under /usr/bin/time -v, against the plan.
#
# What it runs (all on the CPU, PNGs made here from the Solvay photo with numpy):
#   1. the tiny x4 RRDBNet (tests/data/rrdb/rrdb_x4_tiny/model.pth, 16 features, 2 blocks,
#      converted with tools/convert.py) on a 4000x3000 mirror-tiled photo at
#      --vram-budget 1G, then at 2G (when 1G is refused), and on a 2000x1500 one at 1G
#      (RGB, and RGBA with an opaque alpha channel);
#   2. Real-ESRGAN x4plus (models/realesrgan-x4plus.safetensors) on a 200x140 crop at
#      --vram-budget 600M: as planned (auto tile size), and with tiles forced
#      (--tile-size 100); and at 300M, where the planner has to tile by itself.
# For each run it prints one Markdown table row: the plan (tiles, pad, tiles per run,
# planned peak), gpen's own peak RSS, time -v's maximum resident set, wall time, and
# whether the measured peak stayed within the planned one. Outputs go to $WORK and are
# deleted after their size is checked (the 16000x12000 PNG is hundreds of MB).
#
#   bench/large_image_cpu.sh            # env: GPEN, WORK, X4PLUS, THREADS
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GPEN=${GPEN:-$ROOT/build/gpen}
WORK=${WORK:-/tmp/large}
X4PLUS=${X4PLUS:-$ROOT/models/realesrgan-x4plus.safetensors}
SOLVAY=${SOLVAY:-/work/shared/images/solvay_conference_1927.png}
THREADS=${THREADS:-0}
TINY=$WORK/rrdb_x4_tiny.safetensors
mkdir -p "$WORK"

[ -x "$GPEN" ] || { echo "no gpen binary at $GPEN (set GPEN)" >&2; exit 1; }
[ -f "$TINY" ] || python3 "$ROOT/tools/convert.py" \
  "$ROOT/tests/data/rrdb/rrdb_x4_tiny/model.pth" "$TINY" >&2

# Test images: the photo mirrored out to 4000x3000 and 2000x1500, and a 200x140 crop
# (faces and suits). PNG I/O from bench/seam_table.py (numpy + zlib only).
python3 - "$ROOT/bench" "$SOLVAY" "$WORK" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from seam_table import read_png, write_png
src = read_png(sys.argv[2])[:, :, :3]
h, w = src.shape[:2]
for name, (W, H) in (("big_4000x3000", (4000, 3000)), ("big_2000x1500", (2000, 1500))):
    img = np.pad(src, ((0, max(0, H - h)), (0, max(0, W - w)), (0, 0)), mode="symmetric")
    write_png(f"{sys.argv[3]}/{name}.png", img[:H, :W])
# The 2000x1500 one again with an opaque alpha channel: the alpha path (RGBA output).
img = np.pad(src, ((0, 1500 - h), (0, 2000 - w), (0, 0)), mode="symmetric")
rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
write_png(f"{sys.argv[3]}/big_2000x1500_rgba.png", rgba)
write_png(f"{sys.argv[3]}/crop_200x140.png", src[140:280, 540:740])
EOF

echo "# $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, gpen $GPEN"
echo
echo "| model | input | budget | extra flags | tiles (cores, windows) | pad | tiles per run | planned peak | peak RSS (gpen) | max RSS (time -v) | wall | RSS within plan |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"

# run NAME MODEL INPUT BUDGET [FLAGS...]: one upscale under time -v, one table row.
run() {
  local name=$1 model=$2 in=$3 budget=$4
  shift 4
  local out=$WORK/out_$name.png log=$WORK/$name.log rc=0
  /usr/bin/time -v "$GPEN" upscale -m "$model" -i "$WORK/$in.png" -o "$out" \
    --device cpu --threads "$THREADS" --vram-budget "$budget" "$@" >"$log" 2>&1 || rc=$?
  tr '\r' '\n' <"$log" >"$log.txt"
  local tiles pad batch planned rss maxrss wall ok
  tiles=$(sed -n 's/^tiles: \(.*\) input pixels, pad [0-9]*, \(windows [0-9x]*\).*/\1, \2/p' "$log.txt")
  [ -n "$tiles" ] || tiles=$(sed -n 's/^tiles: //p' "$log.txt")
  pad=$(sed -n 's/^tiles: .*pad \([0-9]*\).*/\1/p' "$log.txt")
  batch=$(sed -n 's/^tiles: .*, \([0-9]*\) tiles\{0,1\} per run.*/\1/p' "$log.txt")
  planned=$(sed -n 's/^ *planned peak *\([0-9.]* [KMG]iB\).*/\1/p' "$log.txt")
  rss=$(sed -n 's/.*peak RSS \([0-9.]* [KMG]iB\).*/\1/p' "$log.txt")
  maxrss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log.txt")
  maxrss=$(awk -v k="$maxrss" 'BEGIN { printf "%.1f MiB", k / 1024 }')
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log.txt")
  if [ "$rc" != 0 ]; then
    local why
    why=$(grep -m1 -o 'failed: .*' "$log.txt" | sed 's/^failed: [^:]*: //; s/|/\\|/g')
    echo "| $(basename "$model" .safetensors) | $in | $budget | $* | refused (exit $rc): $why | | | | $rss | $maxrss | $wall | |"
    rm -f "$out"
    return 0
  fi
  ok=$(awk -v p="$planned" -v r="$maxrss" 'BEGIN {
    split(p, a, " "); v = a[1] * (a[2] == "GiB" ? 1024 : (a[2] == "KiB" ? 1 / 1024 : 1));
    split(r, b, " "); print (b[1] <= v ? "yes" : "NO") }')
  # The output's size from its PNG header, then delete it.
  local dims
  dims=$(python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$out")
  echo "output $out: $dims, $(du -h "$out" | cut -f1)" >&2
  rm -f "$out"
  echo "| $(basename "$model" .safetensors) | $in -> $dims | $budget | $* | $tiles | $pad | $batch | $planned | $rss | $maxrss | $wall | $ok |"
}

run tiny_4000_1G "$TINY" big_4000x3000 1G
run tiny_4000_2G "$TINY" big_4000x3000 2G
run tiny_2000_1G "$TINY" big_2000x1500 1G
run tiny_2000_rgba_1G "$TINY" big_2000x1500_rgba 1G
run x4plus_600M_auto "$X4PLUS" crop_200x140 600M
run x4plus_600M_t100 "$X4PLUS" crop_200x140 600M --tile-size 100
run x4plus_300M_auto "$X4PLUS" crop_200x140 300M
