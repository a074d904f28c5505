#!/usr/bin/env bash
# The test command (README, CI). Builds and runs every suite that this machine can run:
#   1. Release build (CUDA sources compiled by nvcc when it exists) + ctest; the "gpu"
#      suite runs on a real GPU, and skips with a message without one.
#   2. The CUDA backend on the CPU emulator (tests/cudasim, -DGPEN_CUDASIM=ON): every
#      kernel against its CPU twin, the one-op-graph tests, the whole backend against
#      the fixtures, in forward, reverse and shuffled thread order; the emulator's own
#      tests and the kernel bugs it must catch.
#   3. AddressSanitizer + UBSan build of every C++ suite, the emulated CUDA backend
#      included (an overrun in a kernel or its shared memory shows here).
#   4. ThreadSanitizer build of the emulated kernels: a missing __syncthreads shows as
#      a data race between CUDA threads.
#   5. Fuzzing for a bounded time each (GPEN_FUZZ_SECONDS, default 30): libFuzzer on the
#      model loader and on image decoding, and the converter's fuzzers (atheris, or its
#      own mutator).
# Set GPEN_TEST_QUICK=1 to run step 1 only; GPEN_TEST_STEPS="1 2" picks steps.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
steps=" ${GPEN_TEST_STEPS:-1 2 3 4 5} "
[ "${GPEN_TEST_QUICK:-0}" = "1" ] && steps=" 1 "
want() { [[ "$steps" == *" $1 "* ]]; }
t0=$(date +%s)
stamp() { echo "   ($(( $(date +%s) - t0 )) s so far)"; }

if want 1; then
  echo "== 1/5 release build and tests"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$jobs"
  ctest --test-dir build --output-on-failure -j 1
  stamp
fi

if want 2; then
  echo "== 2/5 the CUDA backend on the CPU emulator (cudasim)"
  cmake -S . -B build-sim -DCMAKE_BUILD_TYPE=Release -DGPEN_CUDASIM=ON >/dev/null
  cmake --build build-sim -j "$jobs" --target gpen_tests gpen cudasim_tests
  ctest --test-dir build-sim --output-on-failure -j 1 -L "gpu|cudasim"
  # The CLI again on this build, which does not load the CUDA toolkit's libraries: the
  # CPU memory-plan tests (peak RSS, address-space limits) need a process without them.
  ctest --test-dir build-sim --output-on-failure -j 1 -R "^cli$"
  stamp
fi

if want 3; then
  echo "== 3/5 AddressSanitizer + UBSan (the emulated CUDA backend included)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPEN_CUDASIM=ON -DGPEN_SANITIZE=ON >/dev/null
  cmake --build build-asan -j "$jobs" --target gpen_tests gpen cudasim_tests
  # The converter is Python, one reordered kernel run (shuffled) is enough here, and the
  # browser test drives the same server code as the API test (chromium under a sanitized
  # server only slows it).
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j 1 -E "^(converter|gpu_ops_reverse|serve_browser)$"
  stamp
fi

if want 4; then
  echo "== 4/5 ThreadSanitizer on the emulated kernels"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPEN_CUDASIM=ON -DGPEN_TSAN=ON >/dev/null
  cmake --build build-tsan -j "$jobs" --target gpen_tests cudasim_tests
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
  build-tsan/tests/gpen_tests --gpu-suite -tc="gpu op*,gpu backend-ops*"
  build-tsan/tests/cudasim_tests
  unset TSAN_OPTIONS
  stamp
fi

if want 5; then
  echo "== 5/5 fuzzing: the model loader, image decoding, the converter"
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPEN_CUDA=OFF -DGPEN_FUZZ=ON \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build-fuzz -j "$jobs" --target gpen_fuzz_model_file gpen_fuzz_image
  corpus=build-fuzz/corpus
  mkdir -p "$corpus"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  ctest --test-dir build -R convert_fixtures >/dev/null
  cp build/test_models/tiny64.safetensors "$corpus/"
  build-fuzz/tests/gpen_fuzz_model_file "$corpus" -max_total_time="${GPEN_FUZZ_SECONDS:-30}" \
    -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tail -n 12
  echo "fuzz: model loader, no crash in ${GPEN_FUZZ_SECONDS:-30} s"
  # Image decoding, seeded with every documented format (new inputs go to the first folder).
  mkdir -p build-fuzz/corpus_image
  build-fuzz/tests/gpen_fuzz_image build-fuzz/corpus_image tests/fuzz/corpus_image \
    -max_total_time="${GPEN_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -timeout=20 \
    -print_final_stats=1 2>&1 | tail -n 12
  echo "fuzz: image decoding, no crash in ${GPEN_FUZZ_SECONDS:-30} s"
  python3 tests/py/fuzz_convert.py --seconds "${GPEN_FUZZ_SECONDS:-30}" --workdir build-fuzz/convert
  # The converter's ONNX input (RetinaFace), with the engine (step 1's) loading what it writes.
  GPEN_BIN=$([ -x build/gpen ] && echo build/gpen || true) python3 tests/py/fuzz_onnx.py --seconds "${GPEN_FUZZ_SECONDS:-30}" \
    --workdir build-fuzz/onnx
  stamp
fi
