#!/usr/bin/env bash
# Whole photos on a GPU (issue 12), the `photo` part of bench/device_check.sh: the real
# RetinaFace on CUDA against the CPU on the Solvay photo, then the whole chain (detect,
# align, batched restore, paste-back over an RRDBNet x4plus background) on CUDA in fp32
# and fp16, with the time of each stage. GPEN is the tiny fixture model and x4plus has
# seeded random weights (the real file is too large for the device tool's 64 MiB), so the
# picture is not the point: the run, its stages and its memory are.
#
#   bench/device_photo.sh BUILD_DIR OUT_DIR     (device_check.sh calls it)
# Needs models/retinaface-mnet.safetensors (tools/fetch_models.sh retinaface) and the
# photo in shared/images/ or ../shared/images/; python3 with numpy and torch (the GPU
# machine has both) to convert the fixture GPEN and write the random x4plus.
set -euo pipefail
cd "$(dirname "$0")/.."
b=$1 out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
photo=""
for c in shared/images ../shared/images; do
  [ -f "$c/solvay_conference_1927.png" ] && { photo=$c/solvay_conference_1927.png; break; }
done
[ -n "$photo" ] || { echo "no solvay_conference_1927.png in shared/images or ../shared/images"; exit 1; }
det=models/retinaface-mnet.safetensors
[ -f "$det" ] || { echo "no $det (tools/fetch_models.sh retinaface)"; exit 1; }

python3 tools/convert.py tests/data/gpen/tiny64/model.pth "$tmp/tiny64.safetensors" >/dev/null
python3 - "$tmp/x4.pth" <<'PY'
import sys, torch
sys.path.insert(0, "tools")
import archs
hp = dict(scale=4, num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32)
g = torch.Generator().manual_seed(1)
sd = {k: torch.randn(s, generator=g) * (0.02 if k.endswith("weight") else 0.0)
      for k, s in archs.rrdbnet_table(hp).items()}
torch.save({"params_ema": sd}, sys.argv[1])
PY
python3 tools/convert.py "$tmp/x4.pth" "$tmp/x4.safetensors" >/dev/null

echo "== detect: CUDA against the CPU"
"$b/gpen" detect --detector "$det" -i "$photo" --json --device cuda > "$tmp/cuda.json"
"$b/gpen" detect --detector "$det" -i "$photo" --json --device cpu > "$tmp/cpu.json"
python3 - "$tmp/cuda.json" "$tmp/cpu.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["faces"] for p in sys.argv[1:3])
print(f"faces: cuda {len(a)}, cpu {len(b)}")
assert len(a) == len(b), "different face counts"
d = max(max(abs(x - y) for x, y in zip(fa["box"] + sum(fa["landmarks"], []),
                                      fb["box"] + sum(fb["landmarks"], []))) for fa, fb in zip(a, b))
s = max(abs(fa["score"] - fb["score"]) for fa, fb in zip(a, b))
print(f"largest difference: {d:.4f} px in boxes and landmarks, {s:.2e} in scores")
assert d < 0.05 and s < 1e-4
PY

for p in fp32 fp16; do
  echo "== enhance on CUDA, $p: detect, restore, paste back over x4plus at --upscale 2"
  "$b/gpen" enhance -m "$tmp/tiny64.safetensors" --detector "$det" --upscaler "$tmp/x4.safetensors" \
    -i "$photo" -o "$out/solvay_$p.png" --upscale 2 --device cuda --precision "$p"
done
