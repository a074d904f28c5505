#!/usr/bin/env python3
"""Baseline: upstream GPEN's own PyTorch FullGenerator, timed like `gpen bench`.

    python3 bench/torch_gpen_bench.py --upstream /path/to/GPEN [--size 512] [--device cpu|cuda]
        [--batch 1] [--iters 3] [--threads N] [--precision fp32|fp16]

This is a comparison benchmark only: PyTorch is never a dependency of the engine.
The model is upstream's face_model/gpen_model.py, imported from the checkout given by
--upstream, with seeded random weights of the real architecture (GPEN-BFR-512 by
default: channel_multiplier 2, narrow 1). Upstream's fused CUDA extension is not
compiled; its ops run as upstream's own pure-PyTorch fallbacks (upfirdn2d_native,
F.leaky_relu), which is what upstream runs whenever the extension is unavailable.
fp16 uses torch.autocast. Prints one RESULT line like gpen bench.
"""

import argparse
import os
import resource
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="checkout of yangxy/GPEN")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--channel-multiplier", type=int, default=2)
    ap.add_argument("--narrow", type=float, default=1.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    a = ap.parse_args()

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
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}, "
          f"{a.precision}, batch {a.batch}: median {med:.1f} ms per pass over {a.iters} runs")
    print(f"RESULT impl=pytorch device={a.device} precision={a.precision} batch={a.batch} "
          f"ms_per_face={med / a.batch:.2f} peak_rss_mib={rss:.1f} peak_gpu_mib={peak:.1f}")


if __name__ == "__main__":
    main()
