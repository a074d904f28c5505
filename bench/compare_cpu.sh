#!/usr/bin/env bash
# CPU speed, ours beside upstream PyTorch, in one run on one machine (issue: CPU engine).
#
#   bench/compare_cpu.sh /path/to/GPEN-checkout [iters]
#
# Ours: build/gpen bench (GPEN-BFR-512 architecture, random weights, 1 face, fp32).
# Theirs: bench/torch_gpen_bench.py with upstream's FullGenerator, at each thread
# setting (1 and all cores, OpenMP's default and passive waiting), so that the
# comparison is against PyTorch's best. Forward-pass medians plus whole-process time.
set -euo pipefail
up=${1:?usage: bench/compare_cpu.sh /path/to/GPEN-checkout [iters]}
iters=${2:-3}
cd "$(dirname "$0")/.."
py=${PYTHON_TORCH:-/usr/bin/python3}
cores=$(nproc)
t() { /usr/bin/time -f "%e" "$@" 2>&1 >/dev/null | tail -n 1; }

echo "# CPU: $(lscpu | sed -n 's/^Model name: *//p'), $cores cores; $(date -u +%F)"
echo "| implementation | setting | forward median ms/face | whole process s | peak RSS MiB |"
echo "|---|---|---|---|---|"
for threads in 1 "$cores"; do
  for wait in default PASSIVE; do
    envs=(OMP_NUM_THREADS=$threads)
    [ "$wait" = PASSIVE ] && envs+=(OMP_WAIT_POLICY=PASSIVE)
    start=$(date +%s.%N)
    line=$(env "${envs[@]}" "$py" bench/torch_gpen_bench.py --upstream "$up" --iters "$iters" \
           --threads "$threads" 2>/dev/null | grep '^RESULT')
    end=$(date +%s.%N)
    ms=$(sed -n 's/.*ms_per_face=\([0-9.]*\).*/\1/p' <<<"$line")
    rss=$(sed -n 's/.*peak_rss_mib=\([0-9.]*\).*/\1/p' <<<"$line")
    whole=$(echo "$end - $start" | bc)
    echo "| PyTorch $($py -c 'import torch;print(torch.__version__)' 2>/dev/null) (upstream FullGenerator) | OMP_NUM_THREADS=$threads, wait $wait | $ms | $whole | $rss |"
  done
done
for threads in 1 "$cores"; do
  start=$(date +%s.%N)
  line=$(build/gpen bench --arch bfr512 --device cpu --threads "$threads" --iters "$iters" | grep '^RESULT')
  end=$(date +%s.%N)
  ms=$(sed -n 's/.*ms_per_face=\([0-9.]*\).*/\1/p' <<<"$line")
  rss=$(sed -n 's/.*peak_rss_mib=\([0-9.]*\).*/\1/p' <<<"$line")
  whole=$(echo "$end - $start" | bc)
  echo "| gpen (this engine), CPU backend | --threads $threads | $ms | $whole | $rss |"
done
