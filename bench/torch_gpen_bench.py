#!/usr/bin/env python3
"""Baseline: upstream GPEN's own PyTorch FullGenerator, timed like `gpen bench`.

    python3 bench/torch_gpen_bench.py --upstream /path/to/GPEN [--arch bfr512 | --size 512
        --channel-multiplier 2 --narrow 1] [--device cpu|cuda] [--batch 1] [--iters 3]
        [--threads N] [--precision fp32|fp16] [--csv FILE]

This is a comparison benchmark only: PyTorch is never a dependency of the engine.
The model is upstream's face_model/gpen_model.py, imported from the checkout given by
--upstream, with seeded random weights of the real architecture (GPEN-BFR-512 by
default: channel_multiplier 2, narrow 1). Upstream's fused CUDA extension is not
compiled; its ops run as upstream's own pure-PyTorch fallbacks (upfirdn2d_native,
F.leaky_relu), which is what upstream runs whenever the extension is unavailable.
fp16 uses torch.autocast. Prints one RESULT line like gpen bench; --csv FILE also appends
one row in the sweep CSV format of `gpen bench --sweep` (impl pytorch; bench/sweep.py runs
this script for every point of a sweep). Peak memory there is the process's peak RSS on
the CPU and torch.cuda.max_memory_reserved on a GPU (what PyTorch's allocator took from
the device; the CUDA context is in neither side's figure).
"""

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep import append_row  # noqa: E402  (the sweep CSV format; standard library only)

# gpen bench --arch presets (engine/model/gpen_arch.cpp): size, channel_multiplier, narrow.
ARCHS = {"bfr256": (256, 1, 0.5), "bfr512": (512, 2, 1.0), "bfr1024": (1024, 2, 1.0)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="checkout of yangxy/GPEN")
    ap.add_argument("--arch", choices=sorted(ARCHS) + ["bfr2048"],
                    help="a gpen bench preset; sets --size, --channel-multiplier and --narrow")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--channel-multiplier", type=int, default=2)
    ap.add_argument("--narrow", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--csv", help="append a row in the sweep CSV format to this file")
    a = ap.parse_args()
    if a.iters < 1 or a.warmup < 1 or a.batch < 1:
        sys.exit("error: --iters, --warmup and --batch must be at least 1")
    if a.arch == "bfr2048":
        sys.exit("error: --arch bfr2048 is upstream's FullGenerator_SR (1024 in, 2048 out); "
                 "this baseline runs FullGenerator only")
    if a.arch:
        a.size, a.channel_multiplier, a.narrow = ARCHS[a.arch]
    if a.precision == "fp16" and not a.device.startswith("cuda"):
        sys.exit("error: --precision fp16 needs --device cuda (autocast to float16 on the GPU)")

    face_model = os.path.join(os.path.abspath(a.upstream), "face_model")
    if not os.path.isfile(os.path.join(face_model, "gpen_model.py")):
        sys.exit(f"error: {a.upstream} has no face_model/gpen_model.py (pass a GPEN checkout)")
    import torch
    import torch.utils.cpp_extension as ext
    ext.load = lambda *args, **kw: None  # keep upstream from compiling its CUDA extension
    if not hasattr(ext, "_import_module_from_library"):
        ext._import_module_from_library = lambda *args, **kw: None
    sys.path.insert(0, face_model)
    from gpen_model import FullGenerator  # noqa: E402

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    # device='cpu' selects upstream's pure-PyTorch ops; the module then moves to a.device.
    model = FullGenerator(a.size, 512, 8, a.channel_multiplier, narrow=a.narrow, device="cpu")
    model = model.to(a.device).eval()
    x = torch.rand(a.batch, 3, a.size, a.size, device=a.device) * 2 - 1
    cuda = a.device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.cuda.reset_peak_memory_stats()

    def run():
        with torch.no_grad():
            if a.precision == "fp16":
                with torch.autocast("cuda", dtype=torch.float16):
                    out, _ = model(x)
            else:
                out, _ = model(x)
        if cuda:
            torch.cuda.synchronize()
        return out

    for _ in range(a.warmup):
        out = run()
    if not torch.isfinite(out.float()).all():
        sys.exit("error: output has NaN or Inf")
    times = []
    for _ in range(a.iters):
        if cuda:
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            run()
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0
    reserved = torch.cuda.max_memory_reserved() / 2**20 if cuda else 0
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}, "
          f"{a.precision}, batch {a.batch}: median {med:.1f} ms per pass over {a.iters} runs")
    print(f"RESULT impl=pytorch device={a.device} precision={a.precision} batch={a.batch} "
          f"ms_per_face={med / a.batch:.2f} peak_rss_mib={rss:.1f} peak_gpu_mib={peak:.1f} "
          f"reserved_gpu_mib={reserved:.1f}")
    if a.csv:
        append_row(a.csv, {
            "impl": "pytorch", "net": "gpen", "arch": a.arch or f"size{a.size}-cm{a.channel_multiplier}"
            f"-narrow{a.narrow:g}", "device": "cuda" if cuda else a.device, "precision": a.precision,
            "batch": a.batch, "size": a.size, "threads": a.threads,
            "items": a.batch, "ms_median": med, "ms_min": min(times), "ms_max": max(times),
            "ms_per_item": med / a.batch, "ms_per_mpix": med / (a.batch * a.size * a.size / 1e6),
            "items_per_s": 1000.0 * a.batch / med,
            "measured_mib": reserved if cuda else rss, "valid": "yes"})


if __name__ == "__main__":
    main()
