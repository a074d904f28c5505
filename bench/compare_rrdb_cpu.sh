#!/usr/bin/env bash
# RRDBNet (Real-ESRGAN) CPU speed, ours beside upstream PyTorch, in one run on one machine.
#
#   bench/compare_rrdb_cpu.sh /path/to/GPEN-checkout [ITERS=3] [SIZE=64x64]
#
# Ours: $GPEN_BIN (default build/gpen) bench --arch A --device cpu, random weights, fp32.
# Theirs: bench/torch_rrdb_bench.py running upstream's sr_model/rrdbnet_arch.py RRDBNet
# (Debian's python3-torch, or $PYTHON_TORCH), at OpenMP's default and passive waiting so
# that the comparison is against PyTorch's best setting at each thread count.
# Architectures: realesrgan-x4plus at SIZE, rrdb-small at $SMALL_SIZE (default 128x128);
# thread counts $THREADS (default "1 2"). Each process runs under /usr/bin/time for its
# whole wall time (start-up, random weights, warm-up, ITERS passes). Prints one Markdown
# table; the last column is ours / theirs at the same thread count (below 1: ours faster);
# on our rows it is against PyTorch's best setting at that thread count. Progress goes
# to stderr.
set -euo pipefail
up=${1:?usage: bench/compare_rrdb_cpu.sh /path/to/GPEN-checkout [ITERS] [SIZE]}
iters=${2:-3}
size=${3:-64x64}
small_size=${SMALL_SIZE:-128x128}
threads_list=${THREADS:-1 2}
cd "$(dirname "$0")/.."
up=$(cd "$up" && pwd)
py=${PYTHON_TORCH:-/usr/bin/python3}
bin=${GPEN_BIN:-build/gpen}
[ -x "$bin" ] || { echo "error: $bin is not an executable (set GPEN_BIN)" >&2; exit 1; }
tver=$("$py" -c 'import torch; print(torch.__version__)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: runs CMD under /usr/bin/time; sets res (its RESULT line) and whole (s).
run() {
  local name=$1
  shift
  echo "running $name: $*" >&2
  if ! /usr/bin/time -f %e -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err"; then
    cat "$tmp/out" "$tmp/err" >&2
    echo "error: $name failed" >&2
    exit 1
  fi
  res=$(grep '^RESULT' "$tmp/out" | tail -n 1)
  whole=$(tail -n 1 "$tmp/time")
  [ -n "$res" ] || { echo "error: $name printed no RESULT line" >&2; exit 1; }
  echo "  $res" >&2
}
key() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$res"; }

rows=()  # arch|impl|setting|threads|ms|ms_per_mpix|whole|rss
for spec in "realesrgan-x4plus $size" "rrdb-small $small_size"; do
  read -r arch sz <<<"$spec"
  for t in $threads_list; do
    for wait in default PASSIVE; do
      envs=(OMP_NUM_THREADS="$t")
      [ "$wait" = PASSIVE ] && envs+=(OMP_WAIT_POLICY=PASSIVE)
      run "torch $arch $sz threads=$t wait=$wait" env "${envs[@]}" "$py" bench/torch_rrdb_bench.py \
        --upstream "$up" --arch "$arch" --size "$sz" --threads "$t" --iters "$iters"
      rows+=("$arch $sz|torch|OMP_NUM_THREADS=$t, wait $wait|$t|$(key ms_per_face)|$(key ms_per_mpix)|$whole|$(key peak_rss_mib)")
    done
  done
  for t in $threads_list; do
    run "gpen $arch $sz threads=$t" "$bin" bench --arch "$arch" --device cpu --size "$sz" \
      --threads "$t" --iters "$iters"
    rows+=("$arch $sz|ours|--threads $t|$t|$(key ms_per_face)|$(key ms_per_mpix)|$whole|$(key peak_rss_mib)")
  done
done

echo
echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%F); $iters timed passes after 1 warm-up"
echo "| model, input | implementation | setting | median ms/pass | ms per input Mpix | whole process s | peak RSS MiB | ours / theirs |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}" | awk -F'|' -v tver="$tver" '
  { n++; a[n] = $1; impl[n] = $2; set[n] = $3; t[n] = $4; ms[n] = $5; mp[n] = $6; wh[n] = $7; rss[n] = $8
    k = $1 SUBSEP $4
    if ($2 == "ours") ours[k] = $5
    else if (!(k in best) || $5 < best[k]) best[k] = $5 }
  END {
    for (i = 1; i <= n; i++) {
      k = a[i] SUBSEP t[i]
      if (impl[i] == "ours") {
        name = "gpen (this engine), CPU backend"
        r = (k in best) ? sprintf("%.2f (vs best PyTorch)", ms[i] / best[k]) : "-"
      } else {
        name = "PyTorch " tver " (upstream RRDBNet)"
        r = (k in ours) ? sprintf("%.2f", ours[k] / ms[i]) : "-"
      }
      printf "| %s | %s | %s | %.1f | %.0f | %.2f | %.1f | %s |\n", a[i], name, set[i], ms[i], mp[i], wh[i], rss[i], r
    }
  }'
