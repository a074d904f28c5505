#!/usr/bin/env bash
# The one command for a machine with a GPU (issues 4 and 5). Builds in Release for that
# card's architecture with cuDNN required, runs the tests (ctest without the GPU suite,
# then the GPU suite once, verbosely), benchmarks GPEN-BFR-512 on the GPU at batch 1, 4
# and 16 in fp32 and fp16 beside upstream PyTorch eager (fp32, and fp16 under autocast)
# on the same card, and measures the memory planner's choices on the card. Every step
# runs under `timeout`, and the whole run ends within 9 minutes (GPEN_CHECK_DEADLINE_S,
# 540 s), so it fits one 10-minute device call.
#
# Prepare here (this machine has Debian's packages and the upstream checkout):
#   bench/pack_device_deps.sh /path/to/GPEN      # -> .device-deps/ (~45 MB)
# Then, with the device tool, one call:
#   run(command="bench/device_check.sh", carry=[".device-deps"], timeout_s=600)
#
# Exit status 0 only when every step passed; 1 when any failed: no GPU (it stops at once),
# configure (cuDNN missing: -DGPEN_CUDNN=ON), build, a test, a GPU suite that skipped, a
# benchmark run, a planner row that was planned to fit but failed. A summary table of the
# steps (PASS / FAIL / PART / SKIP, seconds) ends the log. PART: the budget sweep ran out
# of time (rows not measured are marked; finish them with GPEN_CHECK_PARTS=budget).
#
# Files, in $OUT (bench/results/ without it), four in all:
#   device_check.log  everything: device, configure, build, tests, GPU suite, benchmarks, summary
#   bench_table.md    ms per face and device MiB, ours and PyTorch's, per precision and batch
#   rrdb_table.md     Real-ESRGAN x4plus on the card: untiled ms per image, tiled under 2G
#   budget_table.md   the planner on the card: batch, tiles, planned and measured MiB, faces/s
#
# Reference data: the small fixture sets travel in tests/data; the large ones (gpen/s128,
# gpen/bfr256_fp16) come from GPEN_SHARED_DIR, ../shared or shared/ when present (../shared
# does not travel with the device tool); their tests skip with a message otherwise.
#
# Environment:
#   GPEN_CHECK_PARTS   the parts after the build, any of "tests bench rrdb photo torch budget
#                      sweep" (the default: all seven); e.g. GPEN_CHECK_PARTS=budget finishes the planner table
#   GPEN_CUDA_ARCH     CUDA architecture to build (default: the card's compute capability
#                      from nvidia-smi, 9.0 -> 90)
#   GPEN_CHECK_DEADLINE_S  the whole run's limit in seconds (540)
#   GPEN_BUILD_DIR (build-gpu), GPEN_BUILD_JOBS (nproc)
set -uo pipefail  # no -e: every step records its own result, and the end says which failed
cd "$(dirname "$0")/.." || exit 1

out=${OUT:-bench/results}
mkdir -p "$out" || exit 1
log="$out/device_check.log"
table="$out/bench_table.md"
btable="$out/budget_table.md"
rtable="$out/rrdb_table.md"
bdir=${GPEN_BUILD_DIR:-build-gpu}
jobs=${GPEN_BUILD_JOBS:-$(nproc)}
deadline_s=${GPEN_CHECK_DEADLINE_S:-540}
parts=" ${GPEN_CHECK_PARTS:-tests bench rrdb photo torch budget sweep} "
start=$SECONDS
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

names=() states=() secs=() notes=()
failed=0
record() {  # record STEP STATUS SECONDS [NOTE]
  names+=("$1"); states+=("$2"); secs+=("$3"); notes+=("${4:-}")
  [ "$2" = FAIL ] && failed=1
  echo "-- $1: $2${4:+ ($4)}"
}
elapsed() { echo "[$((SECONDS - start)) s]"; }
# Seconds a step may take: its own limit, or what is left of the deadline (5 s kept for the
# summary); under 10 the step is not started.
limit() {
  local left=$((deadline_s - (SECONDS - start) - 5))
  [ "$left" -lt 0 ] && left=0
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
late_note="not run: the deadline (GPEN_CHECK_DEADLINE_S=$deadline_s) is reached"
want() { [[ "$parts" == *" $1 "* ]]; }
# run LIMIT CMD...: CMD under timeout, output to the log and to $tmp/last; returns its exit
# status (124: timed out).
run() {
  local lim=$1; shift
  echo "\$ $*"
  timeout -k 10 "$lim" "$@" 2>&1 | tee "$tmp/last"
  return "${PIPESTATUS[0]}"
}
why() {  # why RC LIMIT: a note for a failed command
  case $1 in
    124) echo "timed out after $2 s" ;;
    137) echo "killed: past the $2 s limit, or out of memory" ;;
    77) echo "exit 77: skipped" ;;
    *) if [ "$1" -gt 128 ]; then echo "killed by signal $(($1 - 128))"; else echo "exit $1"; fi ;;
  esac
}
field() { sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p" <<<"$line"; }  # field NAME: from $line, a RESULT line
# step NAME LIMIT CMD...: one command as one step of the summary.
step() {
  local name=$1 lim; lim=$(limit "$2"); shift 2
  echo; echo "== $name (limit $lim s) $(elapsed)"
  if [ "$lim" -lt 10 ]; then record "$name" FAIL 0 "$late_note"; return 1; fi
  local t0=$SECONDS rc=0
  run "$lim" "$@" || rc=$?
  if [ "$rc" -eq 0 ]; then record "$name" PASS $((SECONDS - t0)); return 0; fi
  record "$name" FAIL $((SECONDS - t0)) "$(why "$rc" "$lim")"
  return 1
}
finish() {
  echo; echo "== summary $(elapsed), deadline ${deadline_s} s"
  echo "| step | status | seconds | note |"
  echo "|---|---|---|---|"
  local i
  for i in "${!names[@]}"; do
    echo "| ${names[$i]} | ${states[$i]} | ${secs[$i]} | ${notes[$i]} |"
  done
  for f in "$table" "$rtable" "$btable"; do [ -f "$f" ] && { echo; cat "$f"; }; done
  echo
  if [ "$failed" -ne 0 ]; then echo "device check: FAILED"; exit 1; fi
  echo "device check: passed"
  exit 0
}

main() {
  echo "device check $(date -u +%FT%TZ); parts: ${parts:1:-1}; deadline ${deadline_s} s; log $log"
  rm -f "$table" "$btable" "$rtable"
  local p b gb arch_ line ms mib ok n lim t0 rc cap arch shared c sets cudnn_lib plan
  for p in $parts; do
    case $p in tests|bench|rrdb|photo|torch|budget|sweep) ;; *)
      record parts FAIL 0 "unknown part '$p' in GPEN_CHECK_PARTS (tests bench rrdb photo torch budget sweep)"; finish ;;
    esac
  done

  # -- device: stop at once without a GPU
  echo "== device"
  t0=$SECONDS; rc=0
  line=$(timeout 30 nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>&1) || rc=$?
  line=$(head -n 1 <<<"$line" | tr -d '\r')
  cap=${line// /}
  if [ "$rc" -ne 0 ] || ! [[ "$cap" =~ ^[0-9]+\.[0-9]+$ ]]; then
    if [ "$rc" -ne 0 ]; then line="no usable GPU: nvidia-smi failed ($(why "$rc" 30)): $line"
    else line="no usable GPU: nvidia-smi printed no compute capability ('$line')"; fi
    echo "$line"
    echo "This check needs the machine with the GPU (see the header of $0); nothing else was run."
    record device FAIL $((SECONDS - t0)) "$line"
    finish
  fi
  timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  arch=${GPEN_CUDA_ARCH:-${cap/./}}
  record device PASS $((SECONDS - t0)) "compute capability $cap, building sm_$arch"

  # -- reference data
  shared=""
  if [ -n "${GPEN_SHARED_DIR:-}" ]; then
    if [ -d "$GPEN_SHARED_DIR/fixtures" ]; then shared=$(cd "$GPEN_SHARED_DIR" && pwd)
    else echo "warning: GPEN_SHARED_DIR=$GPEN_SHARED_DIR has no fixtures/: not used"; fi
  fi
  if [ -z "$shared" ]; then
    for c in ../shared shared; do [ -d "$c/fixtures" ] && { shared=$(cd "$c" && pwd); break; }; done
  fi
  sets=$(cd tests/data 2>/dev/null && for c in */*/; do [ -d "$c" ] && printf '%s ' "${c%/}"; done)
  echo "reference data in the checkout (tests/data): ${sets:-none}"
  if [ -n "$shared" ]; then
    sets=$(cd "$shared/fixtures" && for c in */*/; do [ -d "$c" ] && printf '%s ' "${c%/}"; done)
    echo "reference data in $shared/fixtures: ${sets:-none}"
  else
    echo "reference data beyond tests/data: none (GPEN_SHARED_DIR, ../shared and shared/ have no fixtures/);" \
         "tests of the large sets (gpen/s128, gpen/bfr256_fp16) skip"
  fi

  # -- configure and build
  local gen=()  # Ninja for a new build folder; an existing one keeps its generator
  [ ! -f "$bdir/CMakeCache.txt" ] && command -v ninja >/dev/null && gen=(-G Ninja)
  if step configure 120 cmake -S . -B "$bdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
       -DCMAKE_CUDA_ARCHITECTURES="$arch" -DGPEN_CUDA=ON -DGPEN_CUDNN:STRING=ON \
       -DGPEN_SHARED_DIR="${shared:-$PWD/../shared}"; then
    if ! grep -q '^-- cuDNN [0-9]' "$tmp/last"; then
      states[-1]=FAIL; notes[-1]="configure printed no '-- cuDNN <version>' line"; failed=1
    else
      notes[-1]=$(grep -m1 '^-- cuDNN [0-9]' "$tmp/last" | sed 's/^-- //')
    fi
  fi
  if [ "$failed" -ne 0 ]; then finish; fi
  step build 300 cmake --build "$bdir" -j "$jobs" || finish

  # Carried OpenBLAS, and cuDNN's own folder (pip's libcudnn.so.9 loads its parts from there).
  cudnn_lib=$(sed -n 's/^CUDNN_LIBRARY:FILEPATH=//p' "$bdir/CMakeCache.txt")
  export LD_LIBRARY_PATH="$PWD/.device-deps/lib${cudnn_lib:+:$(dirname "$cudnn_lib")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PYTHONUNBUFFERED=1

  # -- tests: ctest without the GPU suite, then the GPU suite once, verbosely
  if want tests; then
    # cli and converter are Python tests of host code (tools/test.sh runs them).
    step ctest 240 ctest --test-dir "$bdir" -V --timeout 120 --no-tests=error -LE gpu -E '^(cli|converter)$'
    lim=$(limit 180)
    echo; echo "== gpu-suite (limit $lim s) $(elapsed)"
    t0=$SECONDS; rc=0
    if [ "$lim" -lt 10 ]; then record gpu-suite FAIL 0 "$late_note"
    else
      run "$lim" "$bdir/tests/gpen_tests" --gpu-suite -tc='gpu*' -s --duration=true || rc=$?
      case $rc in
        0) record gpu-suite PASS $((SECONDS - t0)) ;;
        77) record gpu-suite FAIL $((SECONDS - t0)) "skipped: no usable CUDA device (see its SKIPPED line)" ;;
        *) record gpu-suite FAIL $((SECONDS - t0)) "$(why "$rc" "$lim")" ;;
      esac
    fi
  else
    record tests SKIP 0 "not in GPEN_CHECK_PARTS"
  fi

  # -- benchmark: ours
  if want bench || want torch; then
    echo "| impl | precision | batch | ms/face | peak device MiB |" > "$table"
    echo "|---|---|---|---|---|" >> "$table"
  fi
  if want bench; then
    echo; echo "== bench: GPEN-BFR-512, ours $(elapsed)"
    t0=$SECONDS; ok=0; n=0
    for p in fp32 fp16; do
      for b in 1 4 16; do
        n=$((n + 1)); lim=$(limit 60); rc=0
        if [ "$lim" -lt 10 ]; then echo "| gpen | $p | $b | not run (deadline) | |" >> "$table"; continue; fi
        run "$lim" "$bdir/gpen" bench --arch bfr512 --device cuda --precision "$p" --batch "$b" \
          --iters 10 --warmup 2 || rc=$?
        line=$(grep '^RESULT' "$tmp/last" | tail -n 1)
        ms=$(field ms_per_face); mib=$(field device_mib)
        if [ "$rc" -eq 0 ] && [ -n "$ms" ]; then ok=$((ok + 1)); echo "| gpen | $p | $b | $ms | $mib |" >> "$table"
        else echo "| gpen | $p | $b | failed ($(why "$rc" "$lim")) | |" >> "$table"; fi
      done
    done
    if [ "$ok" -eq "$n" ]; then record bench PASS $((SECONDS - t0)) "$ok of $n runs"
    else record bench FAIL $((SECONDS - t0)) "$ok of $n runs passed"; fi
  else
    record bench SKIP 0 "not in GPEN_CHECK_PARTS"
  fi

  # -- RRDBNet (issues 10 and 11): Real-ESRGAN x4plus untiled at 256x256, then a 1000x750
  # image tiled under --vram-budget 2G (random weights; bench validates against the CPU
  # reference before timing), and the 12-megapixel plan under 2G.
  if want rrdb; then
    echo; echo "== rrdb: Real-ESRGAN x4plus, ours $(elapsed)"
    t0=$SECONDS; ok=0; n=0
    echo "| impl | net | precision | input | ms/image | GFLOP/s | peak device MiB |" > "$rtable"
    echo "|---|---|---|---|---|---|---|" >> "$rtable"
    for p in fp32 fp16; do
      n=$((n + 1)); lim=$(limit 60); rc=0
      [ "$lim" -lt 10 ] && continue
      run "$lim" "$bdir/gpen" bench --arch realesrgan-x4plus --device cuda --precision "$p" \
        --size 256x256 --iters 5 --warmup 1 || rc=$?
      line=$(grep '^RESULT' "$tmp/last" | tail -n 1)
      ms=$(field ms_per_face); mib=$(field device_mib)
      if [ "$rc" -eq 0 ] && [ -n "$ms" ]; then ok=$((ok + 1))
        echo "| gpen | realesrgan-x4plus | $p | 256x256 | $ms | $(field gflops) | $mib |" >> "$rtable"
      else echo "| gpen | realesrgan-x4plus | $p | 256x256 | failed ($(why "$rc" "$lim")) | | |" >> "$rtable"; fi
    done
    n=$((n + 1)); lim=$(limit 90); rc=0
    if [ "$lim" -ge 10 ]; then
      run "$lim" "$bdir/gpen" bench --arch realesrgan-x4plus --device cuda --size 1000x750 \
        --vram-budget 2G --faces 1 || rc=$?
      line=$(grep '^RESULT' "$tmp/last" | tail -n 1)
      if [ "$rc" -eq 0 ] && [ -n "$line" ]; then ok=$((ok + 1))
        echo "| gpen tiled, --vram-budget 2G | realesrgan-x4plus | fp32 | 1000x750 | $(field tiles) tiles, $(field faces_per_s) images/s | | planned $(field planned_mib), measured $(field measured_mib) |" >> "$rtable"
      else echo "| gpen tiled, --vram-budget 2G | realesrgan-x4plus | fp32 | 1000x750 | failed ($(why "$rc" "$lim")) | | |" >> "$rtable"; fi
    fi
    n=$((n + 1)); rc=0
    run 20 "$bdir/gpen" plan --arch realesrgan-x4plus --size 4000x3000 --device cuda --vram-budget 2G || rc=$?
    [ "$rc" -eq 0 ] && ok=$((ok + 1))
    if [ "$ok" -eq "$n" ]; then record rrdb PASS $((SECONDS - t0)) "$ok of $n runs"
    else record rrdb FAIL $((SECONDS - t0)) "$ok of $n runs passed"; fi
  else
    record rrdb SKIP 0 "not in GPEN_CHECK_PARTS"
  fi

  # -- whole photos (issue 12): bench/device_photo.sh
  if want photo; then
    step photo 150 bench/device_photo.sh "$bdir" "$out" || true
  else
    record photo SKIP 0 "not in GPEN_CHECK_PARTS"
  fi

  # -- benchmark: upstream PyTorch eager on the same card
  if want torch; then
    echo; echo "== torch: upstream PyTorch eager $(elapsed)"
    t0=$SECONDS
    local up=.device-deps/gpen-upstream
    if [ ! -f "$up/face_model/gpen_model.py" ]; then
      echo "no upstream model code in $up (bench/pack_device_deps.sh /path/to/GPEN packs it);" \
           "leave torch out of GPEN_CHECK_PARTS to skip the baseline on purpose"
      record torch FAIL 0 "no $up/face_model"
    elif lim=$(limit 60) && [ "$lim" -lt 10 ]; then
      record torch FAIL 0 "$late_note"
    elif ! run "$lim" python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; then
      record torch FAIL $((SECONDS - t0)) "python3 cannot import torch or see the GPU"
    else
      ok=0; n=0
      for p in fp32 fp16; do
        for b in 1 4 16; do
          n=$((n + 1)); lim=$(limit 120); rc=0
          if [ "$lim" -lt 10 ]; then echo "| pytorch | $p | $b | not run (deadline) | |" >> "$table"; continue; fi
          run "$lim" python3 bench/torch_gpen_bench.py --upstream "$up" --device cuda --precision "$p" \
            --batch "$b" --iters 10 --warmup 2 || rc=$?
          line=$(grep '^RESULT' "$tmp/last" | tail -n 1)
          ms=$(field ms_per_face); mib=$(field peak_gpu_mib)
          if [ "$rc" -eq 0 ] && [ -n "$ms" ]; then ok=$((ok + 1)); echo "| pytorch | $p | $b | $ms | $mib |" >> "$table"
          else echo "| pytorch | $p | $b | failed ($(why "$rc" "$lim")) | |" >> "$table"; fi
        done
      done
      if [ "$ok" -eq "$n" ]; then record torch PASS $((SECONDS - t0)) "$ok of $n runs"
      else record torch FAIL $((SECONDS - t0)) "$ok of $n runs passed"; fi
    fi
  else
    record torch SKIP 0 "not in GPEN_CHECK_PARTS"
  fi

  # -- memory planner on the card (issue 5): every row the host planner says fits must run
  if want budget; then
    echo; echo "== budget: the planner's choices on the GPU $(elapsed)"
    t0=$SECONDS
    echo "| model | precision | budget | batch | tiles | planned MiB | planned w/o context | measured MiB | faces/s |" > "$btable"
    echo "|---|---|---|---|---|---|---|---|---|" >> "$btable"
    local bad=0 late=0 measured=0 rows=0
    for arch_ in bfr512 bfr1024 bfr2048; do
      for p in fp32 fp16; do
        for gb in 1 2 4 8 16; do
          rows=$((rows + 1)); lim=$(limit 60)
          if [ "$lim" -lt 20 ]; then late=$((late + 1)); echo "| $arch_ | $p | ${gb}G | not run (deadline) | | | | | |" >> "$btable"; continue; fi
          rc=0
          plan=$(timeout 10 "$bdir/gpen" plan --arch "$arch_" --device cuda --precision "$p" \
                 --vram-budget "${gb}G" --faces 8 2>&1) || rc=$?
          if [ "$rc" -ne 0 ]; then
            echo "$arch_ $p ${gb}G, host plan: $plan"
            if [[ "$plan" == *"too small"* ]]; then
              echo "| $arch_ | $p | ${gb}G | does not fit (planned) | | | | | |" >> "$btable"
            else
              bad=$((bad + 1)); echo "| $arch_ | $p | ${gb}G | FAILED: gpen plan $(why "$rc" 10) | | | | | |" >> "$btable"
            fi
            continue
          fi
          rc=0; lim=$(limit 60)
          run "$lim" "$bdir/gpen" bench --arch "$arch_" --device cuda --precision "$p" --vram-budget "${gb}G" \
            --faces 8 || rc=$?
          line=$(grep '^RESULT' "$tmp/last" | tail -n 1)
          if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
            bad=$((bad + 1)); echo "| $arch_ | $p | ${gb}G | FAILED ($(why "$rc" "$lim")) | | | | | |" >> "$btable"; continue
          fi
          measured=$((measured + 1))
          echo "| $arch_ | $p | ${gb}G | $(field batch) | $(field tiles) | $(field planned_mib)" \
               "| $(field planned_wo_context_mib) | $(field measured_mib) | $(field faces_per_s) |" >> "$btable"
        done
      done
    done
    local note="$measured measured, $((rows - measured - bad - late)) do not fit (planned)"
    [ "$bad" -gt 0 ] && note="$note, $bad failed"
    [ "$late" -gt 0 ] && note="$note, $late not run (deadline): rerun with GPEN_CHECK_PARTS=budget"
    if [ "$bad" -gt 0 ] || [ "$measured" -eq 0 ]; then record budget FAIL $((SECONDS - t0)) "$note"
    elif [ "$late" -gt 0 ]; then record budget PART $((SECONDS - t0)) "$note"
    else record budget PASS $((SECONDS - t0)) "$note"; fi
  else
    record budget SKIP 0 "not in GPEN_CHECK_PARTS"
  fi
  # -- issue 13: bench/sweep.py on the card, ours and PyTorch at the same points, with the
  # per-op profile and the plots (files in $out/sweep: at most 7, the device tool's limit
  # is 8 with this log)
  if want sweep; then
    if [ ! -f .device-deps/gpen-upstream/face_model/gpen_model.py ]; then
      record sweep FAIL 0 "no upstream model code in .device-deps/gpen-upstream (bench/pack_device_deps.sh)"
    else
      step sweep 300 python3 bench/sweep.py --gpen "$bdir/gpen" --upstream .device-deps/gpen-upstream \
        --device cuda --arch bfr512 --arch realesrgan-x4plus --size 128x128 \
        --sweep precision=fp32,fp16 --sweep batch=1,4,16 --iters 10 --warmup 2 --profile \
        --timeout-s 90 --out "$out/sweep" || true
    fi
  else
    record sweep SKIP 0 "not in GPEN_CHECK_PARTS"
  fi
  finish
}

main 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
