"""CLI tests of `gpen bench --sweep` and `gpen bench --profile` on the CPU.

A tiny sweep (RRDBNet rrdb-tiny, random weights; two sizes x two thread counts, and two
tile sizes) must write the CSV with exactly the columns the plotting scripts read, one
valid row per point with the axis values and positive timings; a bad axis is refused
with a hint naming --sweep; a point that fails keeps its row as valid=no and the sweep
exits non-zero; --profile prints the top ops and writes one CSV row per op whose shares
sum to 1. The plain `gpen bench` still prints its RESULT line (bench/device_check.sh).

Needs GPEN_BIN (ctest sets it).
"""

import csv
import os
import subprocess
import tempfile
import unittest

BIN = os.path.abspath(os.environ.get("GPEN_BIN", "build/gpen"))
COLUMNS = ("impl,net,arch,device,precision,batch,size,tile,tile_pad,tile_batch,budget_mib,"
           "threads,items,ms_median,ms_min,ms_max,ms_per_item,ms_per_mpix,items_per_s,gflops,"
           "gbps,peak_share,planned_mib,measured_mib,valid").split(",")
PROFILE_COLUMNS = "index,op,name,ms,gflop,gbytes,gflops,gbps,share".split(",")


def bench(*args):
    return subprocess.run([BIN, "bench", "--device", "cpu", *args], capture_output=True,
                          text=True, timeout=600)


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


class Sweep(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.csv = os.path.join(self.td.name, "sweep.csv")
        self.md = os.path.join(self.td.name, "sweep.md")

    def tearDown(self):
        self.td.cleanup()

    def test_sizes_by_threads(self):
        r = bench("--arch", "rrdb-tiny", "--sweep", "size=32x32,48x40", "--sweep",
                  "threads=1,2", "--iters", "2", "--peak-gflops", "1000", "--csv", self.csv,
                  "--md", self.md)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        header, rows = read_csv(self.csv)
        self.assertEqual(header, COLUMNS)
        self.assertEqual(len(rows), 4)
        points = [(row["size"], row["threads"]) for row in rows]
        self.assertEqual(points, [("32x32", "1"), ("32x32", "2"), ("48x40", "1"),
                                  ("48x40", "2")])
        for row in rows:
            self.assertEqual(row["impl"], "gpen")
            self.assertEqual(row["net"], "rrdbnet")
            self.assertEqual(row["arch"], "rrdb-tiny")
            self.assertEqual(row["device"], "cpu")
            self.assertEqual(row["valid"], "yes")
            self.assertEqual(row["tile"], "")
            lo, med, hi = (float(row[k]) for k in ("ms_min", "ms_median", "ms_max"))
            self.assertTrue(0 < lo <= med <= hi, row)
            w, h = (int(v) for v in row["size"].split("x"))
            self.assertAlmostEqual(float(row["ms_per_mpix"]),
                                   float(row["ms_per_item"]) / (w * h / 1e6),
                                   delta=0.01 * float(row["ms_per_mpix"]))
            for k in ("gflops", "gbps", "peak_share", "planned_mib", "measured_mib",
                      "items_per_s"):
                self.assertGreater(float(row[k]), 0, k)
        with open(self.md) as f:
            md = f.read().splitlines()
        self.assertEqual(md[0], "| " + " | ".join(COLUMNS) + " |")
        self.assertEqual(len(md), 2 + 4)

    def test_tiles(self):
        r = bench("--arch", "rrdb-tiny", "--size", "48x40", "--tile-pad", "8", "--sweep",
                  "tile=16,0", "--iters", "1", "--csv", self.csv)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        _, rows = read_csv(self.csv)
        self.assertEqual([row["valid"] for row in rows], ["yes", "yes"])
        self.assertEqual(rows[0]["tile"], "16")
        self.assertEqual(rows[0]["tile_pad"], "8")
        self.assertEqual(rows[1]["tile"], "48")  # tile 0: the whole image
        self.assertIn("tiles", r.stdout)

    def test_failed_point_keeps_its_row(self):
        r = bench("--arch", "rrdb-tiny", "--sweep", "size=32x32", "--sweep",
                  "precision=fp32,fp16", "--iters", "1", "--csv", self.csv)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("1 of 2 sweep points failed", r.stderr)
        _, rows = read_csv(self.csv)
        self.assertEqual([row["valid"] for row in rows], ["yes", "no"])
        self.assertEqual(rows[1]["precision"], "fp16")
        self.assertEqual(rows[1]["ms_median"], "")

    def test_bad_axis(self):
        r = bench("--arch", "rrdb-tiny", "--sweep", "colour=1,2")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--sweep", r.stderr)
        r = bench("--arch", "rrdb-tiny", "--sweep", "size=32x32,,48x48")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("empty value", r.stderr)


class Profile(unittest.TestCase):
    def test_profile_csv(self):
        with tempfile.TemporaryDirectory() as td:
            path = os.path.join(td, "ops.csv")
            r = bench("--arch", "rrdb-tiny", "--size", "32x24", "--profile", "--profile-csv",
                      path)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("RESULT impl=gpen", r.stdout)
            self.assertIn("the most expensive", r.stdout)
            header, rows = read_csv(path)
        self.assertEqual(header, PROFILE_COLUMNS)
        self.assertGreater(len(rows), 10)
        self.assertEqual([int(row["index"]) for row in rows], list(range(len(rows))))
        self.assertAlmostEqual(sum(float(row["share"]) for row in rows), 1.0, delta=1e-3)
        for row in rows:
            self.assertGreaterEqual(float(row["ms"]), 0)
        convs = [row for row in rows if row["op"] == "conv2d"]
        self.assertTrue(convs and all(float(row["gflop"]) > 0 for row in convs))
        self.assertIn("conv_first", [row["name"] for row in rows])

    def test_profile_refused_with_sweep(self):
        r = bench("--arch", "rrdb-tiny", "--sweep", "threads=1,2", "--profile")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--profile", r.stderr)


if __name__ == "__main__":
    unittest.main()
