#!/usr/bin/env python3
"""One command: our engine's sweep and upstream PyTorch at the same points, merged.

    bench/sweep.py --upstream /path/to/GPEN --arch rrdb-tiny --arch bfr256 --device cpu \
        --sweep batch=1,2 --sweep threads=1,2 [--size 64x64] [--iters 3] --out DIR

Why: ratios are only worth comparing when both sides ran on the same machine in the
same run (absolute times drift between machines and days). For each --arch this runs
`gpen bench --sweep AXIS=v1,v2 ... --csv` (every combination of the axes), then, for every
point of that CSV, upstream's own PyTorch model at the same net, architecture, device,
precision, batch, size and threads (bench/torch_gpen_bench.py for GPEN,
bench/torch_rrdb_bench.py for RRDBNet; rows that differ only in tiling or budget share one
baseline, PyTorch has neither). It writes, under --out:

  ours.csv      what gpen bench wrote, one file for all architectures
  sweep.csv     ours and PyTorch's rows (impl gpen / pytorch), in the sweep CSV format
  sweep.md      one Markdown table, each of our rows beside its PyTorch row, with the
                ratios ours/theirs of time per item and of peak memory (below 1: ours better)
  mem_vs_speed.png, and ops.png with --profile   (bench/plot_bench.py; needs matplotlib,
                skipped with a note when it is missing)

The same command runs on the CPU and on a GPU (--device cuda). The sweep CSV format
(SWEEP_COLUMNS) is the one `gpen bench --sweep ... --csv` writes; the PyTorch scripts
import it from here to write their rows. When the engine's `gpen bench` has no --sweep
(older builds) a stand-in loop calls `gpen bench` once per point and reads its RESULT line
into the same columns (fewer of them filled: no planned memory on every path, no gbps).
Every run has a time limit (--timeout-s); a point that fails or times out becomes a row
with valid=no and the sweep goes on. This script needs only the standard library; PyTorch
runs under --python-torch, the plots under --python-plot (by default this Python when it
has the module, else Debian's /usr/bin/python3).
"""

import argparse
import csv
import importlib.util
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SWEEP_COLUMNS = [
    "impl", "net", "arch", "device", "precision", "batch", "size", "tile", "tile_pad",
    "tile_batch", "budget_mib", "threads", "items", "ms_median", "ms_min", "ms_max",
    "ms_per_item", "ms_per_mpix", "items_per_s", "gflops", "gbps", "peak_share",
    "planned_mib", "measured_mib", "valid",
]
GPEN_ARCHS = ("bfr256", "bfr512", "bfr1024", "bfr2048")
RRDB_ARCHS = ("realesrgan-x4plus", "realesrgan-x2plus", "rrdb-small", "rrdb-tiny")
# The point a PyTorch row stands for: what both sides can set.
PAIR_KEYS = ("net", "arch", "device", "precision", "batch", "size", "threads")
# Axes the stand-in loop understands (gpen bench flags of today).
STANDIN_AXES = {"arch": "--arch", "device": "--device", "batch": "--batch", "size": "--size",
                "precision": "--precision", "threads": "--threads", "budget": "--vram-budget"}
HERE = os.path.dirname(os.path.abspath(__file__))


def python_with(module):
    """This Python when it can import `module`, else Debian's /usr/bin/python3 (where
    python3-torch and python3-matplotlib install), else this one."""
    if importlib.util.find_spec(module) is not None or not os.path.exists("/usr/bin/python3"):
        return sys.executable
    return "/usr/bin/python3"


def append_row(path, row):
    """Appends one row (a dict of SWEEP_COLUMNS; missing keys empty) to a sweep CSV,
    writing the header first when the file is new or empty."""
    unknown = set(row) - set(SWEEP_COLUMNS)
    if unknown:
        raise ValueError(f"not sweep CSV columns: {sorted(unknown)}")
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SWEEP_COLUMNS)
        if new:
            w.writeheader()
        w.writerow({k: fmt(row.get(k, "")) for k in SWEEP_COLUMNS})


def fmt(v):
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 1e4 else (f"{v:.4f}".rstrip("0").rstrip(".") or "0")
    return "" if v is None else str(v)


def read_rows(path):
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        missing = [c for c in ("impl", "net", "arch", "ms_per_item", "valid") if c not in (r.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path}: not a sweep CSV (no column {', '.join(missing)}); "
                     f"expected: {','.join(SWEEP_COLUMNS)}")
        return list(r)


def net_of(arch):
    if arch in GPEN_ARCHS:
        return "gpen"
    if arch in RRDB_ARCHS:
        return "rrdbnet"
    sys.exit(f"error: --arch {arch}: no PyTorch baseline for it (GPEN: {', '.join(GPEN_ARCHS)}; "
             f"RRDBNet: {', '.join(RRDB_ARCHS)}); --no-torch runs ours alone")


def parse_axes(specs):
    axes = []
    for s in specs:
        name, sep, vals = s.partition("=")
        values = [v for v in vals.split(",") if v]
        if not sep or not name or not values:
            sys.exit(f"error: --sweep {s!r}: expected AXIS=v1,v2,...")
        axes.append((name, values))
    return axes


def run(cmd, timeout_s, env=None, log=None):
    """Runs cmd; returns (exit status or 'timeout', combined output)."""
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout_s, env=env)
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc = "timeout"
    if log:
        log.write("$ " + " ".join(cmd) + f"\n{out}\n[exit {rc}]\n")
        log.flush()
    if rc != 0:
        tail = "\n".join(out.strip().splitlines()[-5:])
        print(f"  failed ({'timed out after %d s' % timeout_s if rc == 'timeout' else 'exit %s' % rc}):"
              f"\n  {tail}", file=sys.stderr)
    return rc, out


def result_fields(out):
    lines = [l for l in out.splitlines() if l.startswith("RESULT ")]
    if not lines:
        return None
    return dict(kv.split("=", 1) for kv in lines[-1].split()[1:] if "=" in kv)


def has_flag(gpen, flag):
    p = subprocess.run([gpen, "bench", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return flag in p.stdout


def ours_sweep(a, arch, axes, csv_path, log):
    """gpen bench --sweep for one architecture, appending its rows to csv_path."""
    tmp = csv_path + ".part"
    if os.path.exists(tmp):
        os.remove(tmp)
    cmd = [a.gpen, "bench"] + (["--arch", arch] if arch else [])
    if "device" not in dict(axes):
        cmd += ["--device", a.device]
    cmd += ["--iters", str(a.iters), "--warmup", str(a.warmup), "--csv", tmp]
    if a.size and "size" not in dict(axes):
        cmd += ["--size", a.size]
    for name, values in axes:
        cmd += ["--sweep", f"{name}={','.join(values)}"]
    rc, out = run(cmd, a.timeout_s * max(1, len(list(itertools.product(*[v for _, v in axes])))), log=log)
    if not os.path.exists(tmp):
        sys.exit(f"error: gpen bench --sweep wrote no {tmp} (exit {rc}); see {log.name}")
    for row in read_rows(tmp):
        append_row(csv_path, {k: row.get(k, "") for k in SWEEP_COLUMNS})
    os.remove(tmp)


def ours_standin(a, arch, axes, csv_path, log):
    """Stand-in for gpen bench --sweep: one gpen bench per point, RESULT line -> a row."""
    for name, _ in axes:
        if name not in STANDIN_AXES:
            sys.exit(f"error: --sweep {name}=...: this gpen has no --sweep, and the stand-in loop "
                     f"knows only {', '.join(STANDIN_AXES)}")
    names = [n for n, _ in axes]
    for combo in itertools.product(*[v for _, v in axes]):
        point = dict(zip(names, combo))
        size = point.get("size", a.size or "")
        arch_, device = point.get("arch", arch), point.get("device", a.device)
        cmd = [a.gpen, "bench", "--arch", arch_, "--device", device, "--iters", str(a.iters),
               "--warmup", str(a.warmup)]
        if size:
            cmd += ["--size", size]
        for n, v in point.items():
            if n not in ("size", "arch", "device"):
                cmd += [STANDIN_AXES[n], v]
        if "budget" in point:
            cmd += ["--faces", str(a.faces)]
        rc, out = run(cmd, a.timeout_s, log=log)
        r = result_fields(out) or {}
        batch = int(point.get("batch", r.get("batch", "1")))
        net = r.get("net") or ("gpen" if arch_ in GPEN_ARCHS else "rrdbnet" if arch_ in RRDB_ARCHS else "")
        row = {"impl": "gpen", "net": net, "arch": arch_, "device": device,
               "precision": point.get("precision", "fp32"), "batch": batch, "size": size,
               "threads": point.get("threads", "0"), "valid": "no"}
        if "budget" in point:
            row["budget_mib"] = mib_of(point["budget"])
        if rc == 0 and "ms_per_face" in r:
            per_item = float(r["ms_per_face"])
            m = re.search(r"median ([\d.]+) ms per pass.*\(min ([\d.]+), max ([\d.]+)", out)
            planned = re.search(r"memory:.*total ([\d.]+) MiB", out)
            mem = r.get("device_mib") if device == "cuda" else r.get("peak_rss_mib")
            if device == "cuda" and "measured_mib" in r:
                mem = r["measured_mib"]
            row.update({
                "items": batch, "ms_per_item": per_item, "items_per_s": 1000.0 / per_item,
                "ms_median": float(m.group(1)) if m else per_item * batch,
                "ms_min": float(m.group(2)) if m else "", "ms_max": float(m.group(3)) if m else "",
                "ms_per_mpix": r.get("ms_per_mpix", ""), "gflops": r.get("gflops", ""),
                "planned_mib": r.get("planned_mib", planned.group(1) if planned else ""),
                "measured_mib": mem or "", "valid": "yes"})
        append_row(csv_path, row)


def mib_of(s):
    m = re.fullmatch(r"([\d.]+)\s*([kKmMgG]?)i?[bB]?", s)
    if not m:
        return ""
    scale = {"": 1 / 2**20, "k": 1 / 1024, "m": 1, "g": 1024}[m.group(2).lower()]
    return fmt(float(m.group(1)) * scale)


def torch_point(a, row, csv_path, log):
    """Upstream PyTorch at the point of one of our rows; appends its row to csv_path (valid=no
    when it fails). The row's point columns are copied from ours, so that the two pair up
    (e.g. threads "0" and "" both mean the default: ours the free cores, PyTorch all cores;
    GPEN's size column is our input size)."""
    net, arch = row["net"], row["arch"]
    threads = row.get("threads") or "0"
    device = row.get("device") or a.device
    env = dict(os.environ)
    if device == "cpu" and threads != "0":
        env["OMP_NUM_THREADS"] = threads
        env["OMP_WAIT_POLICY"] = "PASSIVE"  # PyTorch's best setting on 2 cores (bench/README.md)
    fd, tmp = tempfile.mkstemp(suffix=".csv")
    os.close(fd)
    os.remove(tmp)
    script = "torch_gpen_bench.py" if net == "gpen" else "torch_rrdb_bench.py"
    cmd = [a.python_torch, os.path.join(HERE, script), "--upstream", a.upstream, "--arch", arch,
           "--device", device, "--precision", row.get("precision") or "fp32",
           "--batch", row.get("batch") or "1", "--iters", str(a.iters), "--warmup", str(a.warmup),
           "--threads", threads, "--csv", tmp]
    if net == "rrdbnet" and row.get("size"):
        cmd += ["--size", row["size"]]
    rc, _ = run(cmd, a.timeout_s, env=env, log=log)
    got = read_rows(tmp) if rc == 0 and os.path.exists(tmp) else []
    if os.path.exists(tmp):
        os.remove(tmp)
    theirs = got[-1] if got else {"valid": "no"}
    m = re.fullmatch(r"(\d+)x(\d+)", row.get("size", ""))
    if net == "gpen" and m and num(theirs.get("ms_median")):  # per megapixel of our input image
        theirs["ms_per_mpix"] = fmt(num(theirs["ms_median"]) / (
            int(row.get("batch") or 1) * int(m.group(1)) * int(m.group(2)) / 1e6))
    theirs.update({"impl": "pytorch", **{k: row.get(k, "") for k in PAIR_KEYS}})
    append_row(csv_path, {k: theirs.get(k, "") for k in SWEEP_COLUMNS})


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def peak_mib(row):
    return num(row.get("measured_mib")) or num(row.get("planned_mib"))


def markdown(rows, title):
    theirs = {tuple(r.get(k, "") for k in PAIR_KEYS): r for r in rows if r["impl"] == "pytorch"}
    out = [title, "",
           "| net | arch | device | precision | batch | size | threads | tiling / budget "
           "| ours ms/item | PyTorch ms/item | time ours/theirs | ours peak MiB | PyTorch peak MiB "
           "| memory ours/theirs | ours items/s | ours GFLOP/s |",
           "|" + "---|" * 16]

    def cell(v, digits=1):
        x = num(v)
        return "" if x is None else f"{x:.{digits}f}"

    def ratio(x, y):
        return f"{x / y:.2f}" if x is not None and y else ""

    for r in rows:
        if r["impl"] == "pytorch":
            continue
        t = theirs.get(tuple(r.get(k, "") for k in PAIR_KEYS))
        tiling = ", ".join(p for p in (
            f"tile {r['tile']} pad {r.get('tile_pad', '')}" if r.get("tile") else "",
            f"tile batch {r['tile_batch']}" if r.get("tile_batch") else "",
            f"budget {r['budget_mib']} MiB" if r.get("budget_mib") else "") if p)
        ok = r.get("valid") == "yes"
        tok = t is not None and t.get("valid") == "yes"
        ours_ms, our_mem = (num(r["ms_per_item"]), peak_mib(r)) if ok else (None, None)
        th_ms, th_mem = (num(t["ms_per_item"]), peak_mib(t)) if tok else (None, None)
        th_cell = "not run" if t is None else (cell(t["ms_per_item"], 2) if tok else "failed")
        out.append("| " + " | ".join([
            r["net"], r["arch"], r.get("device", ""), r.get("precision", ""), r.get("batch", ""),
            r.get("size", ""), r.get("threads", ""), tiling,
            cell(r["ms_per_item"], 2) if ok else "failed", th_cell, ratio(ours_ms, th_ms),
            cell(our_mem), cell(th_mem), ratio(our_mem, th_mem),
            cell(r.get("items_per_s"), 2) if ok else "", cell(r.get("gflops")) if ok else ""]) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", help="checkout of yangxy/GPEN (required unless --no-torch)")
    ap.add_argument("--arch", action="append", default=[],
                    help="repeatable: bfr512, rrdb-tiny, ... (or an axis: --sweep arch=a,b)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--sweep", action="append", default=[], metavar="AXIS=v1,v2",
                    help="repeatable; every combination of the axes is run (e.g. batch=1,4 threads=1,2)")
    ap.add_argument("--size", default="", help="WIDTHxHEIGHT for image nets (unless swept)")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--faces", type=int, default=4, help="items per point with a budget axis (stand-in)")
    ap.add_argument("--timeout-s", type=int, default=300, help="limit of each run, seconds")
    ap.add_argument("--gpen", default=os.environ.get("GPEN_BIN", os.path.join(HERE, "..", "build", "gpen")))
    ap.add_argument("--python-torch", default=os.environ.get("PYTHON_TORCH") or python_with("torch"),
                    help="python with PyTorch (default: $PYTHON_TORCH, else this one if it has "
                    "torch, else /usr/bin/python3)")
    ap.add_argument("--python-plot", default=python_with("matplotlib"),
                    help="python with matplotlib (default: this one if it has it, else /usr/bin/python3)")
    ap.add_argument("--out", required=True, help="folder for the CSVs, the table, the plots and the log")
    ap.add_argument("--profile", action="store_true",
                    help="also profile the first --arch per op (gpen bench --profile) and plot ops.png")
    ap.add_argument("--no-torch", action="store_true", help="ours alone")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args()
    if not a.no_torch and not a.upstream:
        ap.error("--upstream /path/to/GPEN is required (or --no-torch)")
    if not (os.path.isfile(a.gpen) and os.access(a.gpen, os.X_OK)):
        sys.exit(f"error: {a.gpen} is not an executable (pass --gpen or set GPEN_BIN)")
    if a.upstream:
        a.upstream = os.path.abspath(a.upstream)
    axes = parse_axes(a.sweep)
    swept_archs = dict(axes).get("arch", [])
    if bool(a.arch) == bool(swept_archs):
        ap.error("name the architectures either with --arch (repeatable) or with --sweep arch=a,b")
    if not a.no_torch:
        for arch in a.arch + swept_archs:
            net_of(arch)
    os.makedirs(a.out, exist_ok=True)
    ours_csv, merged_csv = os.path.join(a.out, "ours.csv"), os.path.join(a.out, "sweep.csv")
    md_path = os.path.join(a.out, "sweep.md")
    for p in (ours_csv, merged_csv):
        if os.path.exists(p):
            os.remove(p)
    log = open(os.path.join(a.out, "sweep.log"), "w")

    native = has_flag(a.gpen, "--sweep")
    print(f"ours: {a.gpen} bench {'--sweep' if native else '(stand-in loop: this gpen has no --sweep)'}",
          file=sys.stderr)
    for arch in a.arch or [None]:
        (ours_sweep if native else ours_standin)(a, arch, axes, ours_csv, log)
    ours = read_rows(ours_csv)
    for r in ours:
        append_row(merged_csv, {k: r.get(k, "") for k in SWEEP_COLUMNS})

    if not a.no_torch:
        done = set()
        for r in ours:
            key = tuple(r.get(k, "") for k in PAIR_KEYS)
            if key in done:
                continue
            done.add(key)
            torch_point(a, r, merged_csv, log)
    rows = read_rows(merged_csv)
    cpu = ""
    if a.device == "cpu" and shutil.which("lscpu"):
        m = re.search(r"Model name:\s*(.*)", subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout)
        cpu = f" ({m.group(1).strip() if m else 'CPU'}, {os.cpu_count()} cores)"
    title = (f"Sweep on {a.device}{cpu}: {', '.join(a.arch + swept_archs)}; axes "
             f"{'; '.join(a.sweep) or 'none'}; {a.iters} timed passes after {a.warmup} warm-up; "
             f"ours {'gpen bench --sweep' if native else 'gpen bench per point'}")
    with open(md_path, "w") as f:
        f.write(markdown(rows, title))
    print(open(md_path).read())

    where = f"{a.device}{cpu}, {time.strftime('%Y-%m-%d')}"
    plots = []
    if a.profile:
        prof = os.path.join(a.out, "profile.csv")
        if has_flag(a.gpen, "--profile"):
            cmd = [a.gpen, "bench", "--arch", (a.arch + swept_archs)[0], "--device", a.device, "--iters", str(a.iters),
                   "--warmup", str(a.warmup), "--profile", "--profile-csv", prof]
            if a.size:
                cmd += ["--size", a.size]
            rc, _ = run(cmd, a.timeout_s, log=log)
            if rc == 0 and os.path.exists(prof):
                plots.append(("profile", prof, os.path.join(a.out, "ops.png"),
                              f"gpen {(a.arch + swept_archs)[0]}, time per op of one pass ({where})"))
        else:
            print("note: this gpen has no bench --profile; ops.png not made", file=sys.stderr)
    plots.insert(0, ("sweep", merged_csv, os.path.join(a.out, "mem_vs_speed.png"),
                     f"memory against throughput, ours and upstream PyTorch ({where})"))
    if not a.no_plots:
        py = a.python_plot
        for kind, src, png, ptitle in plots:
            rc, out = run([py, os.path.join(HERE, "plot_bench.py"), kind, src, "-o", png,
                           "--title", ptitle], 120, log=log)
            if rc != 0:
                print(f"note: plot {png} not made (see above); the CSV and Markdown are complete",
                      file=sys.stderr)
    print(f"wrote {merged_csv}, {md_path}" + "".join(
        f", {p[2]}" for p in plots if os.path.exists(p[2])) + f" (log {log.name})", file=sys.stderr)
    if not any(r.get("valid") == "yes" for r in ours):
        sys.exit("error: none of our points ran (see the log)")


if __name__ == "__main__":
    main()
