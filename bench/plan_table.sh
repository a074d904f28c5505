#!/usr/bin/env bash
# The planner's choices for GPEN-512, 1024 and 2048 at 1-16 GB budgets, fp32 and fp16,
# computed on the host (no GPU needed): batch, tiles, planned peak. Prints Markdown.
#   bench/plan_table.sh [faces]       (default 64 faces waiting)
set -euo pipefail
cd "$(dirname "$0")/.."
faces=${1:-64}
echo "| model | precision | budget | batch | tiles per face | planned peak |"
echo "|---|---|---|---|---|---|"
for arch in bfr512 bfr1024 bfr2048; do
  for p in fp32 fp16; do
    for gb in 1 2 4 8 16; do
      if j=$(build/gpen plan --arch "$arch" --device cuda --precision "$p" --vram-budget "${gb}G" \
             --faces "$faces" --json 2>/dev/null); then
        python3 - "$arch" "$p" "$gb" "$j" <<'PY'
import json, sys
arch, p, gb, j = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
tiles = f"{j['tiles_per_face']} of {j['tile']}px from {j['split_res']}" if j["tiled"] else "1 (untiled)"
print(f"| GPEN-{arch[3:]} | {p} | {gb} GB | {j['batch']} | {tiles} | {j['planned_peak_bytes'] / 2**30:.2f} GiB |")
PY
      else
        echo "| GPEN-${arch:3} | $p | ${gb} GB | does not fit | | |"
      fi
    done
  done
done
