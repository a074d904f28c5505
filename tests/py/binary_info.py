"""What kind of `gpen` binary the CLI tests run: a sanitizer build (whose shadow memory
does not survive an address-space limit, and whose resident size is not the plan's to
bound), or one linked against the CUDA toolkit's libraries."""

import subprocess


def sanitized(binary):
    try:
        with open(binary, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return any(s in data for s in (b"__asan_init", b"__tsan_init", b"__msan_init"))


def links_cuda_libraries(binary):
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libcublas" in out or "libcudart" in out
