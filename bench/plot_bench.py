#!/usr/bin/env python3
"""Plots of `gpen bench` sweeps and per-op profiles (issue 13).

    bench/plot_bench.py sweep SWEEP.csv -o mem_vs_speed.png
    bench/plot_bench.py profile PROFILE.csv -o ops.png

Why: a sweep over batch, tiles, budget and threads is a trade of memory for speed; the
question it answers is which configurations are worth running at all. `sweep` draws each
point's peak memory (measured, else planned) against its throughput (items/s), labelled
by its configuration, and marks and connects the Pareto front: the points that no other
point beats on both (as much throughput or more for as little memory or less), one front
per model (net, arch, device; items of different models are not comparable). PyTorch's
rows (impl pytorch, from bench/sweep.py) are drawn as crosses in the model's colour and
are not on the front, which is ours. `profile` draws where the time of one pass goes: one stacked bar of
the op kinds (conv2d, bias_act, upfirdn2d, ...) with the total, beside the ten largest
single ops by name.

Input formats are those of `gpen bench --sweep ... --csv` and `gpen bench --profile
--profile-csv` (see bench/README.md, "Sweeps and plots"). Plotting needs matplotlib
(Debian: `apt-get install python3-matplotlib`, then run this with /usr/bin/python3; or
`pip install matplotlib`); nothing else in the project does. The pure functions here
(pareto_front, point_label, ops_by_kind, largest_ops, read_csv) import without it and are
tested by tests/py/test_bench_plot.py.
"""

import argparse
import csv
import sys

SWEEP_NEEDS = ("impl", "items_per_s", "measured_mib", "planned_mib", "valid")
PROFILE_NEEDS = ("op", "name", "ms")


def read_csv(path, needs):
    """Rows of a CSV as dicts; exits with a clear error when a needed column is missing."""
    try:
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            missing = [c for c in needs if c not in (r.fieldnames or [])]
            if missing:
                sys.exit(f"error: {path}: no column {', '.join(missing)} "
                         f"(header: {','.join(r.fieldnames or [])})")
            return list(r)
    except OSError as e:
        sys.exit(f"error: {path}: {e.strerror}")


def num(v):
    """A CSV cell as a float, or None when empty or not a number."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if x == x else None  # NaN counts as missing


def peak_mib(row):
    """Peak memory of a sweep row: measured when there is a measurement, else planned."""
    m = num(row.get("measured_mib"))
    return m if m is not None and m > 0 else num(row.get("planned_mib"))


def pareto_front(points):
    """The points no other point dominates, in order of increasing memory.

    points: (memory, throughput, payload) tuples. A point is dominated when another one
    needs no more memory and gives no less throughput, and is better in at least one.
    Of exact duplicates the first is kept. Points with a missing value are ignored."""
    pts = [p for p in points if p[0] is not None and p[1] is not None]
    # Least memory first, and at equal memory the highest throughput first: walking that
    # order, a point is on the front exactly when it beats every throughput seen so far.
    order = sorted(range(len(pts)), key=lambda i: (pts[i][0], -pts[i][1], i))
    front, best = [], None
    for i in order:
        thr = pts[i][1]
        if best is None or thr > best:
            front.append(pts[i])
            best = thr
    return front


LABEL_COLUMNS = ("arch", "precision", "batch", "size", "tile", "tile_pad", "tile_batch",
                 "budget_mib", "threads")


def common_columns(rows):
    """The LABEL_COLUMNS that have one value in all rows (labels need not repeat them)."""
    return {c for c in LABEL_COLUMNS if len({r.get(c, "") for r in rows}) <= 1}


def point_label(row, skip=()):
    """A short label of a sweep row's configuration: only what is set and not in skip, e.g.
    'rrdb-tiny b2 64x64 t1', 'bfr512 fp16 b4 tile 256+32 1024M' (b: batch, t: threads,
    tb: tiles per pass, M: budget in MiB)."""
    def has(c):
        return row.get(c) and c not in skip
    parts = []
    if "arch" not in skip:
        parts.append(row.get("arch") or row.get("net") or "?")
    if has("precision"):
        parts.append(row["precision"])
    if has("batch"):
        parts.append(f"b{row['batch']}")
    if has("size") and row.get("net") != "gpen":
        parts.append(row["size"])
    if has("tile"):
        parts.append(f"tile {row['tile']}" + (f"+{row['tile_pad']}" if row.get("tile_pad") else ""))
    if has("tile_batch"):
        parts.append(f"tb{row['tile_batch']}")
    if has("budget_mib"):
        parts.append(f"{float(row['budget_mib']):g}M")
    if has("threads"):
        parts.append(f"t{row['threads']}" if row["threads"] != "0" else "free cores")
    return " ".join(parts)


def by_model(points):
    """Points grouped by (net, arch, device): only within one are items comparable."""
    groups = {}
    for p in points:
        r = p[2]
        groups.setdefault((r.get("net", ""), r.get("arch", ""), r.get("device", "")), []).append(p)
    return groups


def sweep_points(rows, impl):
    """(memory MiB, items/s, row) of the valid rows of one implementation."""
    out = []
    for r in rows:
        if r.get("impl", "gpen") != impl or r.get("valid", "yes") != "yes":
            continue
        mem, thr = peak_mib(r), num(r.get("items_per_s"))
        if mem is not None and thr is not None:
            out.append((mem, thr, r))
    return out


def ops_by_kind(rows):
    """[(op kind, total ms)] of a profile, largest first."""
    tot = {}
    for r in rows:
        ms = num(r.get("ms"))
        if ms is None:
            continue
        kind = r.get("op") or "?"
        tot[kind] = tot.get(kind, 0.0) + ms
    return sorted(tot.items(), key=lambda kv: (-kv[1], kv[0]))


def largest_ops(rows, n=10):
    """[(name, op kind, ms)] of the n slowest single ops, slowest first."""
    ops = [(r.get("name") or r.get("index") or "?", r.get("op") or "?", num(r.get("ms")))
           for r in rows]
    ops = [o for o in ops if o[2] is not None]
    return sorted(ops, key=lambda o: -o[2])[:n]


def need_matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("error: plotting needs matplotlib, which this Python lacks "
                 f"({sys.executable}).\n  Debian/Ubuntu: apt-get install python3-matplotlib "
                 "(then run this script with /usr/bin/python3)\n  elsewhere: "
                 f"{sys.executable} -m pip install matplotlib")
    return plt


def plot_sweep(rows, out, title):
    plt = need_matplotlib()
    ours, theirs = sweep_points(rows, "gpen"), sweep_points(rows, "pytorch")
    if not ours and not theirs:
        sys.exit("error: no valid row with both a memory figure and items_per_s to plot")
    skip = common_columns([p[2] for p in ours + theirs])
    groups_ours, groups_theirs = by_model(ours), by_model(theirs)
    models = sorted(set(groups_ours) | set(groups_theirs))
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(11, 6.5), dpi=100)
    on_front, n_front = set(), 0
    for i, model in enumerate(models):
        col = cmap(i % 10)
        name = " ".join(x for x in model[1:] if x)
        g = groups_ours.get(model, [])
        if g:
            ax.scatter([p[0] for p in g], [p[1] for p in g], marker="o", s=36, color=col,
                       label=f"{name}: gpen (ours)", zorder=3)
            front = pareto_front(g)  # per model: items of different nets are not comparable
            n_front += len(front)
            on_front |= {id(p[2]) for p in front}
            ax.plot([p[0] for p in front], [p[1] for p in front], "-", color=col, lw=1.5, zorder=2)
            ax.scatter([p[0] for p in front], [p[1] for p in front], marker="o", s=120,
                       facecolors="none", edgecolors="tab:red", lw=1.6, zorder=4)
        t = groups_theirs.get(model, [])
        if t:
            ax.scatter([p[0] for p in t], [p[1] for p in t], marker="x", s=55, color=col, lw=1.8,
                       label=f"{name}: PyTorch (upstream)", zorder=3)
    if n_front:
        ax.scatter([], [], marker="o", s=120, facecolors="none", edgecolors="tab:red", lw=1.6,
                   label="on our Pareto front (per model; line connects it)")
    mems = [p[0] for p in ours + theirs]
    if max(mems) / max(min(mems), 1e-9) > 20:
        ax.set_xscale("log")
    thrs = [p[1] for p in ours + theirs]
    if max(thrs) / max(min(thrs), 1e-9) > 20:
        ax.set_yscale("log")
    # Labels: moved down in steps of one line while they would cover one already placed.
    ax.margins(x=0.08, y=0.1)
    ax.autoscale_view()
    placed = []
    for mem, thr, r in sorted(ours + theirs, key=lambda p: (-p[1], p[0])):
        x, y = ax.transData.transform((mem, thr))
        dy = 4
        pt = fig.dpi / 72  # display pixels per point (the offsets are in points)
        while any(abs(x - px) < 75 * pt and abs(y + dy * pt - py) < 9 * pt for px, py in placed):
            dy -= 9
        placed.append((x, y + dy * pt))
        ax.annotate(point_label(r, skip), (mem, thr), xytext=(5, dy), textcoords="offset points",
                    fontsize=7, color="black" if id(r) in on_front else "dimgray",
                    arrowprops=dict(arrowstyle="-", color="lightgray", lw=0.5) if dy < -8 else None)
    first = (ours + theirs)[0][2]
    common = ", ".join(("threads all" if c == "threads" and first[c] == "0" else f"{c} {first[c]}")
                       for c in LABEL_COLUMNS if c in skip and first.get(c) and c != "arch")
    ax.set_xlabel("peak memory, MiB (measured; planned where not measured)")
    ax.set_ylabel("throughput, items/s (higher is better)")
    ax.set_title(title + (f"\nall points: {common}" if common else ""), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}: {len(ours)} of our points ({n_front} on a Pareto front), "
          f"{len(theirs)} PyTorch points, {len(models)} models")


def plot_profile(rows, out, title, top):
    plt = need_matplotlib()
    kinds = ops_by_kind(rows)
    if not kinds:
        sys.exit("error: the profile has no row with a time (column ms)")
    total = sum(ms for _, ms in kinds)
    cmap = plt.get_cmap("tab20")
    color = {k: cmap(i % 20) for i, (k, _) in enumerate(kinds)}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 6), dpi=100,
                                   gridspec_kw={"width_ratios": [1, 2.2]})
    bottom = 0.0
    for kind, ms in kinds:
        ax1.bar([0], [ms], bottom=bottom, color=color[kind], width=0.6, edgecolor="white",
                label=f"{kind}: {ms:.1f} ms ({100 * ms / total:.0f}%)")
        if ms / total > 0.04:
            ax1.text(0, bottom + ms / 2, f"{kind}\n{100 * ms / total:.0f}%", ha="center",
                     va="center", fontsize=8)
        bottom += ms
    ax1.text(0, total, f"total {total:.1f} ms", ha="center", va="bottom", fontsize=9,
             fontweight="bold")
    ax1.set_xticks([])
    ax1.set_xlim(-0.6, 0.6)
    ax1.set_ylim(0, total * 1.08)
    ax1.set_ylabel("ms per pass")
    ax1.set_title("by op kind", fontsize=10)
    ax1.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=1, frameon=False)
    big = largest_ops(rows, top)
    names = [f"{name} ({kind})" for name, kind, _ in big]
    ax2.barh(range(len(big)), [ms for _, _, ms in big], color=[color[k] for _, k, _ in big])
    for i, (_, _, ms) in enumerate(big):
        ax2.text(ms, i, f" {ms:.1f} ms ({100 * ms / total:.1f}%)", va="center", fontsize=8)
    ax2.set_yticks(range(len(big)))
    ax2.set_yticklabels(names, fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlim(0, max(ms for _, _, ms in big) * 1.3)
    ax2.set_xlabel("ms per pass")
    ax2.set_title(f"the {len(big)} largest ops of {len(rows)}", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}: {len(rows)} ops in {len(kinds)} kinds, total {total:.1f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=["sweep", "profile"])
    ap.add_argument("csv", help="a sweep CSV (gpen bench --sweep --csv, bench/sweep.py) or a "
                    "profile CSV (gpen bench --profile --profile-csv)")
    ap.add_argument("-o", "--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="")
    ap.add_argument("--top", type=int, default=10, help="profile: how many single ops to name")
    a = ap.parse_args()
    if a.kind == "sweep":
        rows = read_csv(a.csv, SWEEP_NEEDS)
        devs = sorted({r.get("device", "") for r in rows} - {""})
        plot_sweep(rows, a.out, a.title or f"memory against throughput ({', '.join(devs) or '?'}): "
                   f"{a.csv}")
    else:
        rows = read_csv(a.csv, PROFILE_NEEDS)
        plot_profile(rows, a.out, a.title or f"time per op, one pass: {a.csv}", a.top)


if __name__ == "__main__":
    main()
