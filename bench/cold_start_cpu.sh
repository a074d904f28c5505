#!/usr/bin/env bash
# Cold start on the CPU (issue 13, part 6): the whole process for one face, ours beside
# upstream PyTorch, in one run on one machine.
#
#   bench/cold_start_cpu.sh /path/to/GPEN-checkout [build-dir] [reps]
#
# The model is GPEN-BFR-512's architecture with seeded random weights: upstream's own
# FullGenerator(512, 512, 8, 2) state_dict saved by torch and converted by
# tools/convert.py (trained weights do not change the timing). The face is the aligned
# 512x512 crop tests/data/align/align_512/face0.png.
#   ours:    gpen enhance -m MODEL -i face.png -o out.png --aligned --device cpu
#            (load and check the file, plan, prepare, first touch, one pass, write PNG)
#   PyTorch: python3 + import torch + build FullGenerator + load_state_dict(torch.load)
#            + read the face + one forward (bench/torch_cold_start.py is inlined below)
# Each row runs `reps` times (default 3), interleaved ours / PyTorch, with the page cache
# warm (a first untimed run of each); the table gives the median wall time and peak RSS
# from /usr/bin/time -v. Threads: all cores (ours' default, PyTorch's default).
set -euo pipefail
up=${1:?usage: bench/cold_start_cpu.sh /path/to/GPEN-checkout [build-dir] [reps]}
build=${2:-build}
reps=${3:-3}
cd "$(dirname "$0")/.."
py=${PYTHON_TORCH:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
face=tests/data/align/align_512/face0.png

"$py" - "$up" "$tmp/bfr512.pth" <<'PY'
import os, sys, torch
import torch.utils.cpp_extension as ext
ext.load = lambda *a, **k: None  # upstream's pure-PyTorch ops, as on any CPU
sys.path.insert(0, os.path.join(os.path.abspath(sys.argv[1]), "face_model"))
from gpen_model import FullGenerator
torch.manual_seed(1)
m = FullGenerator(512, 512, 8, 2, narrow=1, device="cpu")
torch.save(m.state_dict(), sys.argv[2])
PY
python3 tools/convert.py "$tmp/bfr512.pth" "$tmp/bfr512.safetensors" >/dev/null

cat > "$tmp/torch_face.py" <<'PY'
import os, sys
import numpy as np
import torch
import torch.utils.cpp_extension as ext
from PIL import Image
ext.load = lambda *a, **k: None
sys.path.insert(0, os.path.join(os.path.abspath(sys.argv[1]), "face_model"))
from gpen_model import FullGenerator
model = FullGenerator(512, 512, 8, 2, narrow=1, device="cpu")
model.load_state_dict(torch.load(sys.argv[2], map_location="cpu"))
model.eval()
img = np.asarray(Image.open(sys.argv[3]).convert("RGB"), dtype=np.float32) / 127.5 - 1
x = torch.from_numpy(img).permute(2, 0, 1)[None]
with torch.no_grad():
    out, _ = model(x)
y = ((out[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
Image.fromarray(y).save(sys.argv[4])
PY

ours() { "$build/gpen" enhance -m "$tmp/bfr512.safetensors" -i "$face" -o "$tmp/ours.png" \
           --aligned --device cpu >/dev/null 2>&1; }
theirs() { "$py" "$tmp/torch_face.py" "$up" "$tmp/bfr512.pth" "$face" "$tmp/torch.png" \
             >/dev/null 2>&1; }
# wall seconds and peak RSS MiB of one run of function $1
measure() {
  /usr/bin/time -v -o "$tmp/tv" bash -c "$(declare -f "$1"); build='$build' tmp='$tmp' \
    face='$face' py='$py' up='$up' $1"
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/tv" |
         awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/tv")
  echo "$wall $((rss / 1024))"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

ours >/dev/null; theirs >/dev/null  # warm the page cache and both binaries
: >"$tmp/ours"; : >"$tmp/theirs"
for _ in $(seq "$reps"); do
  measure ours >>"$tmp/ours"
  measure theirs >>"$tmp/theirs"
done
echo "# cold start, one face: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F)"
echo "| implementation | whole process s (median of $reps) | runs s | peak RSS MiB |"
echo "|---|---|---|---|"
for side in ours theirs; do
  name="gpen enhance --aligned (CPU, this engine)"
  [ "$side" = theirs ] && name="PyTorch $("$py" -c 'import torch;print(torch.__version__)'): import, build, load_state_dict, forward"
  echo "| $name | $(cut -d' ' -f1 "$tmp/$side" | median) | $(cut -d' ' -f1 "$tmp/$side" | tr '\n' ' ')| $(cut -d' ' -f2 "$tmp/$side" | median) |"
done
