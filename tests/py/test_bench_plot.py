"""Tests of bench/plot_bench.py's pure functions and bench/sweep.py's CSV and table code.

Why: the Pareto front decides which configurations the sweep plot recommends, and the
merged table prints the ratios ours/theirs that bench/README.md quotes; both are plain
functions, tested here without matplotlib or PyTorch (plot_bench.py imports matplotlib
only when it draws). Run: python3 -m unittest discover -s tests/py -p 'test_bench*.py'.
"""

import csv
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import plot_bench  # noqa: E402
import sweep  # noqa: E402


def brute_front(points):
    """The definition, point by point: not dominated by any other point."""
    out = []
    for i, (m, t, _) in enumerate(points):
        dominated = any((m2 <= m and t2 >= t and (m2 < m or t2 > t)) or
                        (m2 == m and t2 == t and j < i)
                        for j, (m2, t2, _) in enumerate(points) if j != i)
        if not dominated:
            out.append(points[i])
    return sorted(out, key=lambda p: p[0])


class ParetoTest(unittest.TestCase):
    def test_known_front(self):
        pts = [(100, 10, "a"), (200, 30, "b"), (150, 5, "dominated by a"), (300, 30, "same speed, more memory"),
               (400, 50, "c"), (50, 1, "least memory"), (400, 40, "dominated by c")]
        self.assertEqual([p[2] for p in plot_bench.pareto_front(pts)],
                         ["least memory", "a", "b", "c"])

    def test_equal_memory_keeps_the_faster(self):
        pts = [(100, 5, "slow"), (100, 9, "fast")]
        self.assertEqual([p[2] for p in plot_bench.pareto_front(pts)], ["fast"])

    def test_duplicates_keep_the_first(self):
        pts = [(100, 9, "first"), (100, 9, "second")]
        self.assertEqual([p[2] for p in plot_bench.pareto_front(pts)], ["first"])

    def test_missing_values_are_ignored(self):
        pts = [(None, 100, "no memory"), (10, None, "no speed"), (20, 3, "ok")]
        self.assertEqual([p[2] for p in plot_bench.pareto_front(pts)], ["ok"])
        self.assertEqual(plot_bench.pareto_front([]), [])

    def test_front_is_monotone_and_matches_the_definition(self):
        rnd = random.Random(13)
        for _ in range(200):
            pts = [(rnd.randint(1, 20), rnd.randint(1, 20), i) for i in range(rnd.randint(1, 15))]
            front = plot_bench.pareto_front(pts)
            self.assertEqual([p[2] for p in front], [p[2] for p in brute_front(pts)])
            for a, b in zip(front, front[1:]):
                self.assertLess(a[0], b[0])  # more memory ...
                self.assertLess(a[1], b[1])  # ... only for more throughput


class SweepRowsTest(unittest.TestCase):
    def test_peak_prefers_measured(self):
        self.assertEqual(plot_bench.peak_mib({"measured_mib": "120.5", "planned_mib": "100"}), 120.5)
        self.assertEqual(plot_bench.peak_mib({"measured_mib": "", "planned_mib": "100"}), 100.0)
        self.assertIsNone(plot_bench.peak_mib({"measured_mib": "", "planned_mib": ""}))

    def test_points_skip_invalid_and_other_impls(self):
        rows = [{"impl": "gpen", "items_per_s": "2", "measured_mib": "10", "planned_mib": "", "valid": "yes"},
                {"impl": "gpen", "items_per_s": "", "measured_mib": "", "planned_mib": "", "valid": "no"},
                {"impl": "pytorch", "items_per_s": "1", "measured_mib": "30", "planned_mib": "", "valid": "yes"}]
        self.assertEqual([(m, t) for m, t, _ in plot_bench.sweep_points(rows, "gpen")], [(10.0, 2.0)])
        self.assertEqual([(m, t) for m, t, _ in plot_bench.sweep_points(rows, "pytorch")], [(30.0, 1.0)])

    def test_label_names_what_is_set(self):
        self.assertEqual(plot_bench.point_label(
            {"arch": "bfr512", "net": "gpen", "precision": "fp16", "batch": "4", "tile": "256",
             "tile_pad": "32", "budget_mib": "1024", "threads": "0", "size": "512"}),
            "bfr512 fp16 b4 tile 256+32 1024M free cores")
        rows = [{"arch": "rrdb-tiny", "net": "rrdbnet", "precision": "fp32", "batch": b, "size": "64x64",
                 "threads": "1"} for b in ("1", "2")]
        skip = plot_bench.common_columns(rows)
        self.assertEqual(skip, set(plot_bench.LABEL_COLUMNS) - {"batch"})
        self.assertEqual(plot_bench.point_label(rows[1]), "rrdb-tiny fp32 b2 64x64 t1")
        self.assertEqual(plot_bench.point_label(rows[1], skip), "b2")

    def test_fronts_are_per_model(self):
        rows = [{"net": "rrdbnet", "arch": "rrdb-tiny", "device": "cpu"},
                {"net": "gpen", "arch": "bfr256", "device": "cpu"},
                {"net": "rrdbnet", "arch": "rrdb-tiny", "device": "cpu"}]
        groups = plot_bench.by_model([(1, 1, rows[0]), (2, 2, rows[1]), (3, 3, rows[2])])
        self.assertEqual(sorted((k[1], len(v)) for k, v in groups.items()),
                         [("bfr256", 1), ("rrdb-tiny", 2)])


class ProfileTest(unittest.TestCase):
    ROWS = [{"index": "0", "op": "conv2d", "name": "enc.0", "ms": "5"},
            {"index": "1", "op": "bias_act", "name": "enc.0.act", "ms": "1"},
            {"index": "2", "op": "conv2d", "name": "enc.1", "ms": "7"},
            {"index": "3", "op": "upfirdn2d", "name": "up.0", "ms": "3"},
            {"index": "4", "op": "bias_act", "name": "enc.1.act", "ms": ""}]

    def test_by_kind(self):
        self.assertEqual(plot_bench.ops_by_kind(self.ROWS),
                         [("conv2d", 12.0), ("upfirdn2d", 3.0), ("bias_act", 1.0)])

    def test_largest(self):
        self.assertEqual(plot_bench.largest_ops(self.ROWS, 2),
                         [("enc.1", "conv2d", 7.0), ("enc.0", "conv2d", 5.0)])


class MergeTest(unittest.TestCase):
    def row(self, impl, ms, mib, **kw):
        r = {"impl": impl, "net": "rrdbnet", "arch": "rrdb-tiny", "device": "cpu", "precision": "fp32",
             "batch": "1", "size": "64x64", "threads": "1", "ms_per_item": ms, "items_per_s": "",
             "measured_mib": mib, "planned_mib": "", "valid": "yes"}
        r.update(kw)
        return r

    def test_csv_round_trip_and_columns(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "s.csv")
            sweep.append_row(p, {"impl": "gpen", "batch": 2, "ms_per_item": 12.345678, "valid": "yes"})
            sweep.append_row(p, {"impl": "pytorch", "valid": "no"})
            with open(p, newline="") as f:
                rows = list(csv.reader(f))
            self.assertEqual(rows[0], sweep.SWEEP_COLUMNS)
            self.assertEqual(len(rows), 3)
            got = dict(zip(rows[0], rows[1]))
            self.assertEqual((got["batch"], got["ms_per_item"], got["tile"]), ("2", "12.3457", ""))
            with self.assertRaises(ValueError):
                sweep.append_row(p, {"impl": "gpen", "ms_per_face": 1})

    def test_ratios(self):
        rows = [self.row("gpen", "50", "30"), self.row("pytorch", "100", "300"),
                self.row("gpen", "40", "20", threads="2"),
                self.row("gpen", "60", "", threads="1", budget_mib="64", planned_mib="25"),
                self.row("pytorch", "", "", threads="2", valid="no")]
        md = sweep.markdown(rows, "t").splitlines()
        body = [l for l in md if l.startswith("| rrdbnet")]
        self.assertEqual(len(body), 3)  # our rows only, each beside its PyTorch row
        cells = [[c.strip() for c in l.strip("|").split("|")] for l in body]
        head = [c.strip() for c in md[2].strip("|").split("|")]
        t, m = head.index("time ours/theirs"), head.index("memory ours/theirs")
        self.assertEqual((cells[0][t], cells[0][m]), ("0.50", "0.10"))
        self.assertEqual(cells[1][head.index("PyTorch ms/item")], "failed")
        self.assertEqual(cells[1][t], "")
        # the budget row pairs with the same PyTorch point; memory falls back to planned
        self.assertEqual((cells[2][t], cells[2][m]), ("0.60", "0.08"))

    def test_mib_of(self):
        self.assertEqual(sweep.mib_of("2G"), "2048")
        self.assertEqual(sweep.mib_of("300M"), "300")
        self.assertEqual(sweep.mib_of("512k"), "0.5")


if __name__ == "__main__":
    unittest.main()
