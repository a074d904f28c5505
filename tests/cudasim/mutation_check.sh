#!/usr/bin/env bash
# Proof that the emulated kernel suite bites: injects one kernel bug at a time, rebuilds,
# runs the kernel tests in the release, ASan+UBSan and TSan emulator builds, and prints
# which of them caught it, as a Markdown table. Every kernel file is restored afterwards
# (also on Ctrl-C). Not part of tools/test.sh (it rebuilds once per bug and build): run
# it by hand after tools/test.sh has configured build-sim, build-asan and build-tsan.
#   tests/cudasim/mutation_check.sh          # all mutations
#   tests/cudasim/mutation_check.sh 0 3      # some, by index
set -uo pipefail
cd "$(dirname "$0")/../.."
builds=(build-sim build-asan build-tsan)
for b in "${builds[@]}"; do
  [ -d "$b" ] || { echo "mutation_check: $b is missing; run tools/test.sh first" >&2; exit 1; }
done
# It edits kernels/ in place while it runs (do not commit meanwhile), so it starts only
# from a clean kernels/ and puts every file back at the end.
if [ -n "$(git status --porcelain -- kernels 2>/dev/null)" ]; then
  echo "mutation_check: kernels/ has uncommitted changes; commit or set them aside first" >&2
  exit 1
fi

# `mutate list` prints "index<TAB>name"; `mutate apply N` applies bug N, a literal
# replacement that must match exactly once.
mutate() {
  python3 - "$@" <<'PY'
import sys
M = [
    ("missing barrier (pixel_norm reduction)", "kernels/pixel_norm.cu",
     "part[threadIdx.x + s];\n    __syncthreads();", "part[threadIdx.x + s];"),
    ("missing barrier (style_scatter, first)", "kernels/style_scatter.cu",
     "part[threadIdx.x] = m;\n  __syncthreads();", "part[threadIdx.x] = m;"),
    ("off-by-one bound (upfirdn2d rows)", "kernels/upfirdn2d.cu", "v / p.up >= p.h", "v / p.up > p.h"),
    ("shared buffer one row short (mod_conv1x1)", "kernels/mod_conv1x1.cu",
     "static_cast<size_t>(p.cout * p.cin) * sizeof(float)",
     "static_cast<size_t>((p.cout - 1) * p.cin) * sizeof(float)"),
    ("wrong stride (style_scatter output)", "kernels/style_scatter.cu",
     "sl.dst[b * sl.count + i]", "sl.dst[b * (sl.count + 1) + i]"),
    ("wrong stride (crop input rows)", "kernels/crop.cu", "+ p.y0 + r) * p.w + p.x0", "+ p.y0 + r) * p.wo + p.x0"),
    ("wrong shuffle distance (demod_coef)", "kernels/demod_coef.cu", "int off = 16;", "int off = 8;"),
]
if sys.argv[1] == "list":
    for i, m in enumerate(M):
        print(f"{i}\t{m[0]}")
else:
    name, path, old, new = M[int(sys.argv[2])]
    s = open(path).read()
    assert s.count(old) == 1, f"{old!r} found {s.count(old)} times in {path}"
    open(path, "w").write(s.replace(old, new))
PY
}

backup_dir=$(mktemp -d)
restore() { cp "$backup_dir"/*.cu kernels/; }
trap 'restore; rm -rf "$backup_dir"' EXIT
cp kernels/*.cu "$backup_dir/"

run_suite() {  # build dir -> what happened, in a few words
  local b=$1 log rc why
  log=$(mktemp)
  if ! cmake --build "$b" -j "$(nproc)" --target gpen_tests >"$log" 2>&1; then
    echo "build failed"
    rm -f "$log"
    return
  fi
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" ASAN_OPTIONS=detect_leaks=0 \
    timeout 900 "$b/tests/gpen_tests" --gpu-suite -tc="gpu op*,gpu backend-ops*" >"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "passed (missed)"
  else
    # The most telling line: a sanitizer's or the emulator's report, a comparison, else doctest's.
    why=$(grep -m1 -oE "(AddressSanitizer|ThreadSanitizer): [a-z-]+( [a-z]+)?|cudasim: [^:(]*|malloc\(\): [a-z ]+|free\(\): [a-z ]+" "$log" ||
      grep -m1 -oE "[a-z_0-9 ]+ \[fp(16|32)\]: max \|diff\| [0-9.e+-]+" "$log" || grep -m1 -oE "ERROR: .{0,80}" "$log")
    echo "**caught** (exit $rc): ${why:-see the log}"
  fi
  rm -f "$log"
}

printf '| bug | %s | %s | %s |\n|---|---|---|---|\n' "${builds[@]}"
while IFS=$'\t' read -r idx name; do
  if [ $# -gt 0 ] && [[ " $* " != *" $idx "* ]]; then continue; fi
  restore
  if ! mutate apply "$idx"; then
    echo "| $name | mutation did not apply | | |"
    continue
  fi
  row="| $name |"
  for b in "${builds[@]}"; do row="$row $(run_suite "$b") |"; done
  echo "$row"
done < <(mutate list)
restore
for b in "${builds[@]}"; do cmake --build "$b" -j "$(nproc)" --target gpen_tests >/dev/null 2>&1; done
