#!/usr/bin/env bash
# The test command (README, CI). Builds and runs every suite that this machine can run:
#   1. Release build (CUDA sources compiled when nvcc exists) + ctest; tests labelled
#      "gpu" skip with a message when no GPU is present.
#   2. AddressSanitizer + UBSan build of the C++ suites (loader, ops, planner, models).
#   3. libFuzzer on the model loader for a bounded time (GPEN_FUZZ_SECONDS, default 30).
# Set GPEN_TEST_QUICK=1 to run step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

echo "== 1/3 release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j 1

if [ "${GPEN_TEST_QUICK:-0}" = "1" ]; then exit 0; fi

echo "== 2/3 AddressSanitizer + UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPEN_CUDA=OFF -DGPEN_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs" --target gpen_tests gpen
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j 1 -E "^converter$"

echo "== 3/3 libFuzzer on the model loader"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPEN_CUDA=OFF -DGPEN_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j "$jobs" --target gpen_fuzz_model_file
corpus=build-fuzz/corpus
mkdir -p "$corpus"
cp build/test_models/tiny64.safetensors "$corpus/"
build-fuzz/tests/gpen_fuzz_model_file "$corpus" -max_total_time="${GPEN_FUZZ_SECONDS:-30}" \
  -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tail -n 12
echo "fuzz: no crash in ${GPEN_FUZZ_SECONDS:-30} s"
