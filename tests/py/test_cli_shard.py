"""CLI tests of scale-out: `--shard K/N` splits a folder over N workers, stably and without
overlap, `--skip-existing` resumes, and the two scripts in tools/ (a Slurm job array and a
Kubernetes Indexed Job) run the same command lines with each worker's index.

Needs GPEN_BIN and GPEN_TEST_MODELS_DIR (ctest sets both). The workers are local
processes running `gpen upscale` with the tiny RRDBNet fixture (x1), which keeps each
run short; the sharding is the same code for enhance.
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from file_formats import write_png  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("GPEN_BIN", "build/gpen"))
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
N_FILES = 12


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)


class Shard(unittest.TestCase):
    def setUp(self):
        self.td = tempfile.TemporaryDirectory()
        self.inp = os.path.join(self.td.name, "in")
        os.mkdir(self.inp)
        for i in range(N_FILES):
            write_png(os.path.join(self.inp, "img%02d.png" % i), 9 + i, 7, 3,
                      lambda x, y, i=i: (x * 20 % 256, y * 30 % 256, i * 17 % 256))
        self.model = os.path.join(MODELS, "rrdb_x1_tiny.safetensors")

    def tearDown(self):
        self.td.cleanup()

    def args(self, out, *extra):
        return [BIN, "upscale", "-m", self.model, "-i", self.inp, "-o", out, "--device", "cpu",
                "--threads", "1", *extra]

    def outputs(self, out):
        return sorted(os.listdir(out)) if os.path.isdir(out) else []

    def shard_counts(self, stderr):
        m = re.search(r"shard (\d+)/(\d+): (\d+) of (\d+) images", stderr)
        self.assertIsNotNone(m, stderr)
        return int(m.group(3)), int(m.group(4))

    def test_workers_share_a_folder_exactly_once(self):
        whole = os.path.join(self.td.name, "whole")
        r = run(self.args(whole))
        self.assertEqual(r.returncode, 0, r.stderr)
        out = os.path.join(self.td.name, "out")
        n = 3
        procs = [subprocess.Popen(self.args(out, "--shard", "%d/%d" % (k, n)), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in range(n)]
        taken = 0
        for p in procs:
            _, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, err)
            mine, total = self.shard_counts(err)
            self.assertEqual(total, N_FILES)
            taken += mine
        self.assertEqual(taken, N_FILES)  # no file twice, none left out
        self.assertEqual(self.outputs(out), self.outputs(whole))
        for name in self.outputs(out):
            with open(os.path.join(out, name), "rb") as a, open(os.path.join(whole, name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)

    def test_a_files_share_depends_on_its_name_alone(self):
        first = os.path.join(self.td.name, "first")
        r = run(self.args(first, "--shard", "1/3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        before = set(self.outputs(first))
        self.assertTrue(0 < len(before) < N_FILES, before)
        for i in range(N_FILES, N_FILES + 6):  # more files arrive
            write_png(os.path.join(self.inp, "new%02d.png" % i), 8, 8, 3, lambda x, y: (x, y, 0))
        second = os.path.join(self.td.name, "second")
        r = run(self.args(second, "--shard", "1/3"))
        self.assertEqual(r.returncode, 0, r.stderr)
        after = set(self.outputs(second))
        self.assertEqual({n for n in after if n.startswith("img")}, before)

    def test_skip_existing_resumes(self):
        out = os.path.join(self.td.name, "out")
        r = run(self.args(out))
        self.assertEqual(r.returncode, 0, r.stderr)
        names = self.outputs(out)
        for n in names[:2]:
            os.remove(os.path.join(out, n))
        with open(os.path.join(out, names[2]), "wb"):
            pass  # an empty file is not a finished output
        kept = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in names[3:]}
        r = run(self.args(out, "--skip-existing"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("skipped %d images whose output exists" % (N_FILES - 3), r.stderr)
        self.assertIn("done: 3 of 3 images", r.stderr)
        self.assertEqual(self.outputs(out), names)
        self.assertGreater(os.path.getsize(os.path.join(out, names[2])), 0)
        for n, t in kept.items():
            self.assertEqual(os.stat(os.path.join(out, n)).st_mtime_ns, t, n)
        r = run(self.args(out, "--skip-existing"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing to do", r.stderr)

    def test_bad_shard_values_are_named(self):
        out = os.path.join(self.td.name, "out")
        for v in ("3/3", "a/b", "1", "-1/2", "1/0", "/2", "99999999/100000000"):
            r = run(self.args(out, "--shard", v))
            self.assertEqual(r.returncode, 1, v)
            self.assertIn("--shard '%s' is not K/N" % v, r.stderr)

    def test_slurm_job_array_script(self):
        out = os.path.join(self.td.name, "out")
        script = os.path.join(ROOT, "tools", "slurm_array.sh")
        taken = 0
        # An array 1-2 (SLURM_ARRAY_TASK_MIN 1, no TASK_COUNT: an older Slurm) is 2 shards.
        for task in (1, 2):
            env = dict(os.environ, GPEN_BIN=BIN, SLURM_ARRAY_TASK_ID=str(task),
                       SLURM_ARRAY_TASK_MIN="1", SLURM_ARRAY_TASK_MAX="2")
            env.pop("SLURM_ARRAY_TASK_COUNT", None)
            r = run(["bash", script, *self.args(out)[1:]], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("shard %d/2" % (task - 1), r.stderr)
            taken += self.shard_counts(r.stderr)[0]
        self.assertEqual(taken, N_FILES)
        self.assertEqual(len(self.outputs(out)), N_FILES)
        r = run(["bash", script, *self.args(out)[1:]],
                env=dict(os.environ, GPEN_BIN=BIN, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="2"))
        self.assertEqual(r.returncode, 0, r.stderr)  # a rerun skips what is done
        self.assertIn("nothing to do", r.stderr)

    def test_kubernetes_indexed_job_command(self):
        with open(os.path.join(ROOT, "tools", "k8s_indexed_job.yaml")) as f:
            text = f.read()
        completions = int(re.search(r"^\s*completions:\s*(\d+)", text, re.M).group(1))
        parallelism = int(re.search(r"^\s*parallelism:\s*(\d+)", text, re.M).group(1))
        shards = int(re.search(r"name: GPEN_SHARDS\s*\n\s*value:\s*\"(\d+)\"", text).group(1))
        self.assertIn("completionMode: Indexed", text)
        self.assertEqual((completions, parallelism), (shards, shards))
        command = re.search(r"^\s*- (exec gpen .*)$", text, re.M).group(1)
        # The container's command, run here with each index: `gpen` on PATH is ours.
        bindir = os.path.join(self.td.name, "bin")
        os.mkdir(bindir)
        os.symlink(BIN, os.path.join(bindir, "gpen"))
        out = os.path.join(self.td.name, "out")
        taken = 0
        for i in range(shards):
            env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
                       JOB_COMPLETION_INDEX=str(i), GPEN_SHARDS=str(shards),
                       GPEN_ARGS=" ".join(self.args(out)[1:]))
            r = run(["/bin/sh", "-c", command], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            taken += self.shard_counts(r.stderr)[0]
        self.assertEqual(taken, N_FILES)
        self.assertEqual(len(self.outputs(out)), N_FILES)


if __name__ == "__main__":
    unittest.main()
