#!/usr/bin/env bash
# CPU under contention (issue 13, part 5): ours at 1 and all threads, idle and with one
# core kept busy by another process, beside upstream PyTorch under the same load.
#
#   bench/contention_cpu.sh /path/to/GPEN-checkout [build-dir] [reps]
#
# Ours runs at --threads 1, at --threads <all cores> (fixed) and at the default (--threads 0:
# the cores other processes leave free, core/cpu_load.h), interleaved.
# "busy" rows run while `sh -c 'while :; do :; done'` spins (one core of work, as a
# laptop's other programs); it is started before each busy run and killed after it,
# and on any exit (trap). Ours: gpen bench --device cpu --iters 3 (median of 3 passes
# after 1 warm-up) for GPEN-BFR-512, GPEN-BFR-256 and Real-ESRGAN x4plus at 64x64; each
# configuration runs `reps` times (default 2) interleaved (t1 tN t0 t1 tN t0 ...), the table
# shows the median of the runs. PyTorch: bench/torch_gpen_bench.py (upstream's
# FullGenerator, OMP_WAIT_POLICY=PASSIVE, its best setting in the issue-3 table) and
# bench/torch_rrdb_bench.py, once per row. The last ratio is ours (default threads) /
# PyTorch (all cores) at the same load (below 1: ours faster). Bounded: about 11 minutes
# on 2 cores at reps 2.
set -euo pipefail
up=${1:?usage: bench/contention_cpu.sh /path/to/GPEN-checkout [build-dir] [reps]}
build=${2:-build}
reps=${3:-2}
cd "$(dirname "$0")/.."
py=${PYTHON_TORCH:-/usr/bin/python3}
cores=$(nproc)
busy_pid=
stop_busy() {
  if [ -n "$busy_pid" ]; then kill "$busy_pid" 2>/dev/null || true; wait "$busy_pid" 2>/dev/null || true; fi
  busy_pid=
}
trap stop_busy EXIT INT TERM
start_busy() {
  sh -c 'while :; do :; done' &
  busy_pid=$!
  sleep 0.5
}
ms_of() { sed -n 's/.*ms_per_face=\([0-9.]*\).*/\1/p' | head -n 1; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run LOAD CMD...: one timing (ms per item) under LOAD (idle or busy)
run() {
  local load=$1; shift
  [ "$load" = busy ] && start_busy
  local ms
  ms=$("$@" 2>/dev/null | grep '^RESULT' | ms_of || true)
  stop_busy
  echo "${ms:-failed}"
}
ours() { run "$1" "$build/gpen" bench --device cpu --iters 3 --threads "$2" "${@:3}"; }
torch_row() {  # LOAD THREADS ARCH
  local load=$1 t=$2 arch=$3
  case $arch in
    bfr512) run "$load" env OMP_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE "$py" \
              bench/torch_gpen_bench.py --upstream "$up" --iters 3 --threads "$t" ;;
    bfr256) run "$load" env OMP_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE "$py" \
              bench/torch_gpen_bench.py --upstream "$up" --iters 3 --threads "$t" --size 256 \
              --channel-multiplier 1 --narrow 0.5 ;;
    realesrgan-x4plus) run "$load" env OMP_NUM_THREADS="$t" OMP_WAIT_POLICY=PASSIVE "$py" \
              bench/torch_rrdb_bench.py --upstream "$up" --iters 3 --threads "$t" --size 64x64 ;;
  esac
}

echo "# CPU under contention: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; $(date -u +%F)"
echo "| model | load | ours --threads 1 ms | ours --threads $cores ms | ours default ms | PyTorch 1 thread ms | PyTorch $cores threads ms | ours default / ours 1 | ours default / PyTorch ($cores threads) |"
echo "|---|---|---|---|---|---|---|---|---|"
for arch in bfr512 bfr256 realesrgan-x4plus; do
  extra=(--arch "$arch")
  [ "$arch" = realesrgan-x4plus ] && extra+=(--size 64x64)
  for load in idle busy; do
    one=() all=() dflt=()
    for _ in $(seq "$reps"); do
      one+=("$(ours "$load" 1 "${extra[@]}")")
      all+=("$(ours "$load" "$cores" "${extra[@]}")")
      dflt+=("$(ours "$load" 0 "${extra[@]}")")
    done
    o1=$(printf '%s\n' "${one[@]}" | median)
    oa=$(printf '%s\n' "${all[@]}" | median)
    od=$(printf '%s\n' "${dflt[@]}" | median)
    p1=$(torch_row "$load" 1 "$arch")
    pa=$(torch_row "$load" "$cores" "$arch")
    r1=$(awk -v a="$od" -v b="$o1" 'BEGIN { printf "%.2f", a / b }')
    rp=$(awk -v a="$od" -v b="$pa" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $arch | $load | $o1 ($(IFS=/; echo "${one[*]}")) | $oa ($(IFS=/; echo "${all[*]}")) | $od ($(IFS=/; echo "${dflt[*]}")) | $p1 | $pa | $r1 | $rp |"
  done
done
