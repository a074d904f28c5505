#!/usr/bin/env python3
"""Baseline: upstream's own PyTorch RRDBNet (Real-ESRGAN), timed like `gpen bench`.

    python3 bench/torch_rrdb_bench.py --upstream /path/to/GPEN
        [--arch realesrgan-x4plus|realesrgan-x2plus|rrdb-small|rrdb-tiny] [--size WxH]
        [--threads N] [--iters K] [--warmup 1] [--seed 1] [--device cpu|cuda] [--batch B]
        [--precision fp32|fp16] [--csv FILE]

This is a comparison benchmark only: PyTorch is never a dependency of the engine.
The model is upstream's sr_model/rrdbnet_arch.py RRDBNet, imported from the checkout
given by --upstream (with its sibling sr_model/arch_util.py, which it imports; nothing
is copied or stubbed), built with the named architecture's hyperparameters and seeded
random weights (upstream's own init; timing does not depend on the values). The input
is (B, 3, H, W), uniform in [0, 1]. Forward passes run under torch.no_grad on the CPU or
on a GPU (--device cuda, TF32 off; fp16 through torch.autocast): warm-up, then
median/min/max of K timed passes, ms per input megapixel, peak memory, and a final RESULT
line in the key=value style of `gpen bench` (ms_per_face is per image). --csv FILE also
appends one row in the sweep CSV format of `gpen bench --sweep` (impl pytorch; see
bench/sweep.py): peak memory is the peak RSS on the CPU, torch.cuda.max_memory_reserved
on a GPU.
"""

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep import append_row  # noqa: E402  (the sweep CSV format; standard library only)

# name -> (num_feat, num_block, num_grow_ch, scale), as engine/net/rrdb_weights.cpp.
ARCHS = {
    "realesrgan-x4plus": (64, 23, 32, 4),
    "realesrgan-x2plus": (64, 23, 32, 2),
    "rrdb-small": (32, 6, 16, 4),
    "rrdb-tiny": (16, 2, 8, 4),
}


def parse_size(s):
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError:
        sys.exit(f"error: --size {s!r}: expected WIDTHxHEIGHT")
    if w <= 0 or h <= 0:
        sys.exit(f"error: --size {s!r}: must be positive")
    return w, h


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="checkout of yangxy/GPEN")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="realesrgan-x4plus")
    ap.add_argument("--size", default="64x64", help="input WIDTHxHEIGHT")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--batch", type=int, default=1, help="images per pass")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    ap.add_argument("--csv", help="append a row in the sweep CSV format to this file")
    a = ap.parse_args()
    if a.iters < 1 or a.warmup < 1 or a.batch < 1:
        sys.exit("error: --iters, --warmup and --batch must be at least 1")
    cuda = a.device.startswith("cuda")
    if a.precision == "fp16" and not cuda:
        sys.exit("error: --precision fp16 needs --device cuda (autocast to float16 on the GPU)")
    w, h = parse_size(a.size)

    sr_model = os.path.join(os.path.abspath(a.upstream), "sr_model")
    if not os.path.isfile(os.path.join(sr_model, "rrdbnet_arch.py")):
        sys.exit(f"error: {a.upstream} has no sr_model/rrdbnet_arch.py (pass a GPEN checkout)")
    import torch
    sys.path.insert(0, sr_model)  # rrdbnet_arch does `from arch_util import ...`
    from rrdbnet_arch import RRDBNet  # noqa: E402

    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    num_feat, num_block, num_grow_ch, scale = ARCHS[a.arch]
    if scale == 2 and (w % 2 or h % 2):
        sys.exit("error: x2 models pixel-unshuffle their input: --size must be even")
    model = RRDBNet(num_in_ch=3, num_out_ch=3, scale=scale, num_feat=num_feat,
                    num_block=num_block, num_grow_ch=num_grow_ch).eval()
    x = torch.rand(a.batch, 3, h, w)
    if cuda:
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda, but torch.cuda.is_available() is false")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        model, x = model.to(a.device), x.to(a.device)
        torch.cuda.reset_peak_memory_stats()

    # Convolution FLOPs (2 per multiply-add), counted once on the warm-up pass.
    flops = [0.0]

    def count(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        flops[0] += 2.0 * out.numel() * k

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d)]

    def run():
        with torch.no_grad():
            if a.precision == "fp16":
                with torch.autocast("cuda", dtype=torch.float16):
                    out = model(x)
            else:
                out = model(x)
        if cuda:
            torch.cuda.synchronize()
        return out

    out = run()
    for hk in hooks:
        hk.remove()
    for _ in range(a.warmup - 1):
        out = run()
    if tuple(out.shape) != (a.batch, 3, h * scale, w * scale):
        sys.exit(f"error: output shape {tuple(out.shape)}, expected "
                 f"({a.batch}, 3, {h * scale}, {w * scale})")
    if not torch.isfinite(out.float()).all():
        sys.exit("error: output has NaN or Inf")
    times = []
    for _ in range(a.iters):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    mpix = a.batch * w * h / 1e6  # per pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reserved = torch.cuda.max_memory_reserved() / 2**20 if cuda else 0
    gflops = flops[0] / (med * 1e-3) / 1e9  # flops[0]: the whole batch
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}: upstream RRDBNet "
          f"{a.arch} (feat {num_feat}, blocks {num_block}, grow {num_grow_ch}, x{scale}), "
          f"input {w}x{h}, batch {a.batch}, {a.device}, {a.precision}")
    print(f"  median {med:.1f} ms per pass (min {min(times):.1f}, max {max(times):.1f}, "
          f"{a.iters} runs)")
    print(f"  {med / mpix:.1f} ms per input megapixel")
    print(f"  {flops[0] / a.batch / 1e9:.1f} GFLOP per image, {gflops:.1f} GFLOP/s")
    print(f"  peak RSS {rss:.1f} MiB" + (f", device memory reserved {reserved:.1f} MiB" if cuda else ""))
    print(f"RESULT impl=torch net=rrdbnet arch={a.arch} device={a.device} precision={a.precision} "
          f"batch={a.batch} threads={torch.get_num_threads()} ms_per_face={med / a.batch:.3f} "
          f"ms_min={min(times):.3f} ms_max={max(times):.3f} ms_per_mpix={med / mpix:.3f} "
          f"gflops={gflops:.1f} peak_rss_mib={rss:.1f} reserved_gpu_mib={reserved:.1f}")
    if a.csv:
        append_row(a.csv, {
            "impl": "pytorch", "net": "rrdbnet", "arch": a.arch, "device": "cuda" if cuda else "cpu",
            "precision": a.precision, "batch": a.batch, "size": f"{w}x{h}", "threads": a.threads,
            "items": a.batch, "ms_median": med, "ms_min": min(times), "ms_max": max(times),
            "ms_per_item": med / a.batch, "ms_per_mpix": med / mpix,
            "items_per_s": 1000.0 * a.batch / med, "gflops": gflops,
            "measured_mib": reserved if cuda else rss, "valid": "yes"})


if __name__ == "__main__":
    main()
