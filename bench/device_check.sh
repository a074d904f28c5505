#!/usr/bin/env bash
# The one command for a machine with a GPU (issue 4). Builds in Release, runs the test
# suite (the "gpu" label included), benchmarks GPEN-BFR-512 on the GPU at batch 1, 4
# and 16 in fp32 and fp16 beside upstream PyTorch eager (fp32, and fp16 under
# autocast) on the same card, and writes everything to one results file. Budget: under
# 6 minutes on an H100, so that a rerun fits a 15-minute lease.
#
# Prepare here (this machine has the Debian packages and the upstream checkout):
#   bench/pack_device_deps.sh /path/to/GPEN      # -> .device-deps/ (~45 MB)
# Then on the device tool:
#   run(command="bench/device_check.sh", carry=[".device-deps"], timeout_s=480)
# Results: $OUT/device_results.txt (or bench/results/ without $OUT).
# GPEN_CHECK_PARTS picks the parts (default "tests bench torch budget"; each part stops
# when the script passes 330 s, so a second call with GPEN_CHECK_PARTS=budget finishes
# the planner table).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out"
results="$out/device_results.txt"
exec > >(tee "$results") 2>&1
start=$(date +%s)
elapsed() { echo "[$(( $(date +%s) - start )) s]"; }

table="$out/bench_table.md"
btable="$out/budget_table.md"
echo "== device"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || true

shared=${GPEN_SHARED_DIR:-}
[ -z "$shared" ] && for c in ../shared shared; do [ -d "$c/fixtures" ] && shared=$(cd "$c" && pwd) && break; done
echo "reference data: ${shared:-none found (fixture tests will fail; backend-vs-CPU tests still run)}"

echo "== build $(elapsed)"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="${GPEN_CUDA_ARCH:-90}" -DGPEN_SHARED_DIR="${shared:-$PWD/../shared}" \
  > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
grep -E "cuDNN" "$out/cmake.log"
cmake --build build-gpu -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error" "$out/build.log" | head -30; exit 1; }
export LD_LIBRARY_PATH="$PWD/.device-deps/lib:${LD_LIBRARY_PATH:-}"

parts=" ${GPEN_CHECK_PARTS:-tests bench torch budget} "
want() { [[ "$parts" == *" $1 "* ]]; }

if want tests; then
echo "== tests $(elapsed)"
ctest --test-dir build-gpu --output-on-failure -E "^(cli|converter)$" 2>&1 | tail -n 25
echo "-- gpu suite, verbose"
build-gpu/tests/gpen_tests --gpu-suite -tc="gpu*" -s 2>&1 | grep -E "MESSAGE|ERROR|FAILED|test cases|SKIPPED" | sed 's/^.*MESSAGE: //' | head -60

fi

if want bench; then
echo "== benchmark: GPEN-BFR-512, ours $(elapsed)"
echo "| impl | precision | batch | ms/face | peak device MiB |" > "$table"
echo "|---|---|---|---|---|" >> "$table"
for p in fp32 fp16; do
  for b in 1 4 16; do
    line=$(build-gpu/gpen bench --arch bfr512 --device cuda --precision "$p" --batch "$b" --iters 10 --warmup 2 \
           | tee -a "$out/bench_gpen.log" | grep '^RESULT')
    echo "$line"
    ms=$(sed -n 's/.*ms_per_face=\([0-9.]*\).*/\1/p' <<<"$line")
    mib=$(sed -n 's/.*device_mib=\([0-9.]*\).*/\1/p' <<<"$line")
    echo "| gpen | $p | $b | $ms | $mib |" >> "$table"
  done
done

fi

if want torch; then
echo "== benchmark: upstream PyTorch eager $(elapsed)"
up=.device-deps/gpen-upstream
if [ -d "$up/face_model" ]; then
  for p in fp32 fp16; do
    for b in 1 4 16; do
      line=$(timeout 120 python3 bench/torch_gpen_bench.py --upstream "$up" --device cuda --precision "$p" \
             --batch "$b" --iters 10 --warmup 2 2>>"$out/bench_torch.err" | grep '^RESULT')
      echo "$line"
      ms=$(sed -n 's/.*ms_per_face=\([0-9.]*\).*/\1/p' <<<"$line")
      mib=$(sed -n 's/.*peak_gpu_mib=\([0-9.]*\).*/\1/p' <<<"$line")
      echo "| pytorch | $p | $b | ${ms:-failed} | ${mib:-} |" >> "$table"
    done
  done
else
  echo "no upstream checkout in $up (bench/pack_device_deps.sh /path/to/GPEN); PyTorch baseline skipped"
fi

fi

if want budget; then
echo "== memory planner: budgets on the GPU (issue 5) $(elapsed)"
echo "| model | precision | budget | batch | tiles | planned MiB | planned w/o context | measured MiB | faces/s |" > "$btable"
echo "|---|---|---|---|---|---|---|---|---|" >> "$btable"
for arch in bfr512 bfr1024 bfr2048; do
  for p in fp32 fp16; do
    for gb in 1 2 4 8 16; do
      [ $(( $(date +%s) - start )) -gt 330 ] && { echo "time budget reached, skipping the rest"; break 3; }
      line=$(timeout 60 build-gpu/gpen bench --arch "$arch" --device cuda --precision "$p" --vram-budget "${gb}G" \
             --faces 8 2>&1 | tee -a "$out/bench_budget.log" | grep '^RESULT')
      [ -z "$line" ] && { echo "| $arch | $p | ${gb}G | does not fit or failed | | | | | |" >> "$btable"; continue; }
      f() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$line"; }
      echo "| $arch | $p | ${gb}G | $(f batch) | $(f tiles) | $(f planned_mib) | $(f planned_wo_context_mib) | $(f measured_mib) | $(f faces_per_s) |" >> "$btable"
    done
  done
done

fi

echo "== summary $(elapsed)"
[ -f "$table" ] && cat "$table"
[ -f "$btable" ] && cat "$btable"
exit 0
