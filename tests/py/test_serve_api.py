"""`gpen serve` through its HTTP API (README, "gpen serve"), as a client sees it.

Starts `gpen serve --port 0` on loopback with the tiny GPEN fixture, the RetinaFace
fixture detector (at its fixture threshold) and the tiny x2 RRDB upscaler, and checks:
a job's result is byte for byte what `gpen enhance` writes for the same photo and
settings, and its event stream has the plan, faces, tile, stage and done events; bad
uploads and requests get clear 4xx answers; 8 clients at once each get the result of
their own photo; a client that never reads its event stream, one that stops half-way
through a request and one that vanishes mid-upload do not stall the queue; /api/plan
creates no job; SIGTERM lets the running job finish, fails
the queued one, exits 0 and removes the temporary folder; a non-loopback --host warns.

Plain python3 with numpy and the standard library. Needs GPEN_BIN and
GPEN_TEST_MODELS_DIR (ctest sets both).
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import zlib
import struct

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_paths  # noqa: E402
from file_formats import read_png  # noqa: E402

BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
RF_SET = fixture_paths.fixture_dir("retinaface", "retinaface_mnet")
PHOTO = os.path.join(RF_SET, "input.png")
with open(os.path.join(RF_SET, "meta.json")) as f:
    THRESHOLD = "%.9g" % json.load(f)["confidence_threshold"]
TINY = os.path.join(MODELS, "tiny64.safetensors")
RF = os.path.join(MODELS, "retinaface_mnet.safetensors")
RRDB_X2 = os.path.join(MODELS, "rrdb_x2_tiny.safetensors")
MODEL_FLAGS = ["-m", TINY, "--detector", RF, "--upscaler", RRDB_X2, "--threshold", THRESHOLD,
               "--device", "cpu"]
MAX_UPLOAD = 1 << 20
MAX_PIXELS = 1_000_000
TIMEOUT = 120


def png_bytes(a):
    """An 8-bit RGB PNG of the (H, W, 3) uint8 array `a` (no filters)."""
    h, w, _ = a.shape
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b""))


def multipart(fields, image=None):
    """(body, content type) of a multipart/form-data form."""
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" %
                     (boundary.encode(), k.encode(), str(v).encode()))
    if image is not None:
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"image\"; "
                     b"filename=\"../../evil.png\"\r\nContent-Type: image/png\r\n\r\n" %
                     boundary.encode() + image + b"\r\n")
    parts.append(b"--%s--\r\n" % boundary.encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


class Server:
    """A `gpen serve` process; its stderr is drained into self.lines."""

    def __init__(self, *flags, env=None):
        self.proc = subprocess.Popen([BIN, "serve", "--port", "0", *flags],
                                     stderr=subprocess.PIPE, text=True, env=env)
        self.lines = []
        self.port = None
        deadline = time.time() + 60
        while self.port is None and time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            if line.startswith("serving on http://"):
                self.port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("gpen serve did not start:\n" + "".join(self.lines))

    def _drain(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r, data

    def submit(self, image, **fields):
        body, ctype = multipart(fields, image)
        r, data = self.request("POST", "/api/jobs", body, {"Content-Type": ctype})
        return r.status, json.loads(data), r

    def events(self, job_id, until_end=True, last_id=None):
        """The job's events as (id, kind, data) until done/error (the stream ends)."""
        c = self.conn()
        c.request("GET", "/api/jobs/%s/events" % job_id,
                  headers={"Last-Event-ID": str(last_id)} if last_id is not None else {})
        r = c.getresponse()
        assert r.status == 200, r.status
        assert r.getheader("Content-Type").startswith("text/event-stream")
        out, cur = [], {}
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode().rstrip("\n")
            if line == "":
                if "event" in cur:
                    out.append((int(cur["id"]), cur["event"], json.loads(cur["data"])))
                cur = {}
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(": ")
            cur[k] = v
        c.close()
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=60)
        self.drain.join(timeout=10)
        self.proc.stderr.close()
        return rc


def enhance(inp, out, *flags):
    r = subprocess.run([BIN, "enhance", *MODEL_FLAGS, "-i", inp, "-o", out, *flags],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr


def variants(photo):
    """8 different photos made from the fixture: flipped, cropped, shifted."""
    return [photo, photo[:, ::-1], photo[:, 40:600], photo[20:250], np.roll(photo, 100, axis=1),
            photo[:, ::-1][:, 30:560], photo[10:260, 100:500], np.roll(photo, -57, axis=0)]


class ServeApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.td = tempfile.TemporaryDirectory()
        cls.tmp = os.path.join(cls.td.name, "server_tmp")
        os.mkdir(cls.tmp)
        env = dict(os.environ, TMPDIR=cls.tmp)
        cls.srv = Server(*MODEL_FLAGS, "--max-upload", str(MAX_UPLOAD), "--max-pixels",
                         str(MAX_PIXELS), env=env)
        with open(PHOTO, "rb") as f:
            cls.photo_png = f.read()
        w, h, ch, data = read_png(PHOTO)
        cls.photo = np.frombuffer(data, np.uint8).reshape(h, w, ch)[:, :, :3].copy()

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        try:
            assert rc == 0, "gpen serve exited with %d:\n%s" % (rc, "".join(cls.srv.lines))
            assert os.listdir(cls.tmp) == [], os.listdir(cls.tmp)
        finally:
            cls.td.cleanup()

    def server_folder(self):
        (d,) = os.listdir(self.tmp)
        return os.path.join(self.tmp, d)

    def result(self, job_id, download=False, conn=None):
        return self.srv.request("GET", "/api/jobs/%s/result%s" % (job_id, "?download=1" if download else ""),
                                conn=conn)

    def test_job_equals_enhance_with_events(self):
        status, job, _ = self.srv.submit(self.photo_png, tile="64", tile_pad="8", upscale="2")
        self.assertEqual(status, 202, job)
        self.assertRegex(job["id"], "^[0-9a-f]{32}$")
        self.assertEqual(job["events_url"], "/api/jobs/%s/events" % job["id"])
        events = self.srv.events(job["id"])
        kinds = [k for _, k, _ in events]
        for k in ("queued", "started", "plan", "faces", "tile", "stage", "done"):
            self.assertIn(k, kinds)
        self.assertEqual(kinds[-1], "done")
        self.assertEqual([i for i, _, _ in events], list(range(1, len(events) + 1)))
        stages = {d["stage"] for _, k, d in events if k == "plan"}
        self.assertEqual(stages, {"restore", "background"})
        tiles = [d for _, k, d in events if k == "tile"]
        self.assertEqual(tiles[-1]["done"], tiles[-1]["total"])
        self.assertGreater(tiles[-1]["total"], 1)
        done = events[-1][2]
        self.assertEqual((done["width"], done["height"]), (1280, 548))
        # Last-Event-ID: only what came after.
        later = self.srv.events(job["id"], last_id=len(events) - 2)
        self.assertEqual([i for i, _, _ in later], [len(events) - 1, len(events)])

        r, got = self.result(job["id"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "image/png")
        ref = os.path.join(self.td.name, "ref.png")
        enhance(PHOTO, ref, "--tile-size", "64", "--tile-pad", "8", "--upscale", "2")
        with open(ref, "rb") as f:
            want = f.read()
        self.assertEqual(len(got), done["bytes"])
        self.assertTrue(got == want, "the served result differs from gpen enhance's")
        r, status = self.srv.request("GET", "/api/jobs/" + job["id"])
        st = json.loads(status)
        self.assertEqual(st["state"], "done")
        self.assertEqual(st["input"], {"width": 640, "height": 274})
        self.assertEqual(st["result"]["bytes"], len(got))
        self.assertEqual(st["settings"]["tile"], "64")
        # Only the result is left in the job's folder; the upload is gone.
        self.assertEqual(os.listdir(os.path.join(self.server_folder(), job["id"])), ["restored.png"])

    def assert_error(self, status, body, code, *words):
        self.assertEqual(status, code, body)
        self.assertIn("error", body)
        self.assertIn("hint", body)
        for w in words:
            self.assertIn(w, body["error"])

    def test_bad_requests(self):
        status, body, _ = self.srv.submit(b"hello, I am not a picture at all")
        self.assert_error(status, body, 415, "not a readable image")
        status, body, _ = self.srv.submit(os.urandom(MAX_UPLOAD + 1000))
        self.assert_error(status, body, 413, str(MAX_UPLOAD))
        big = png_bytes(np.zeros((1000, 1001, 3), np.uint8))
        status, body, _ = self.srv.submit(big)
        self.assert_error(status, body, 413, "limit", "megapixels")
        status, body, _ = self.srv.submit(self.photo_png, tile="abc")
        self.assert_error(status, body, 400, "'tile'")
        status, body, _ = self.srv.submit(self.photo_png, upscale="3")
        self.assert_error(status, body, 400, "'upscale'")
        status, body, _ = self.srv.submit(self.photo_png, alpha="1.5")
        self.assert_error(status, body, 400, "'alpha'")
        status, body, _ = self.srv.submit(self.photo_png, colour="red")
        self.assert_error(status, body, 400, "'colour'")
        status, body, _ = self.srv.submit(None, tile="64")
        self.assert_error(status, body, 400, "'image'")
        r, data = self.srv.request("GET", "/api/jobs/" + "0" * 32)
        self.assert_error(r.status, json.loads(data), 404)
        r, data = self.srv.request("GET", "/api/jobs/%s/events" % ("0" * 32))
        self.assertEqual(r.status, 404)
        # The result before and after it is downloaded.
        status, job, _ = self.srv.submit(self.photo_png, bg_upsampler="bicubic")
        self.assertEqual(status, 202, job)
        r, data = self.result(job["id"])
        self.assert_error(r.status, json.loads(data), 409)
        self.assertEqual(self.srv.events(job["id"])[-1][1], "done")
        c = self.srv.conn()
        r, png = self.result(job["id"], download=True, conn=c)
        self.assertEqual(r.status, 200)
        self.assertIn("attachment", r.getheader("Content-Disposition"))
        self.assertTrue(png.startswith(b"\x89PNG"))
        r, data = self.result(job["id"], conn=c)
        c.close()
        self.assert_error(r.status, json.loads(data), 410)
        self.assertNotIn(job["id"], os.listdir(self.server_folder()))

    def test_concurrent_clients(self):
        inputs = [np.ascontiguousarray(v) for v in variants(self.photo)]
        ref_in = os.path.join(self.td.name, "conc_in")
        ref_out = os.path.join(self.td.name, "conc_out")
        os.mkdir(ref_in)
        for i, a in enumerate(inputs):
            with open(os.path.join(ref_in, "p%d.png" % i), "wb") as f:
                f.write(png_bytes(a))
        results = [None] * len(inputs)
        errors = []

        def client(i):
            try:
                with open(os.path.join(ref_in, "p%d.png" % i), "rb") as f:
                    status, job, _ = self.srv.submit(f.read(), bg_upsampler="bicubic")
                assert status == 202, job
                ev = self.srv.events(job["id"])
                assert ev[-1][1] == "done", ev[-1]
                r, png = self.result(job["id"])
                assert r.status == 200
                results[i] = png
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("client %d: %r" % (i, e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(inputs))]
        for t in threads:
            t.start()
        enhance(ref_in, ref_out, "--bg-upsampler", "bicubic")
        for t in threads:
            t.join(TIMEOUT)
        self.assertEqual(errors, [])
        for i in range(len(inputs)):
            with open(os.path.join(ref_out, "p%d.png" % i), "rb") as f:
                self.assertTrue(results[i] == f.read(), "client %d got another result" % i)

    def test_slow_and_vanished_clients_do_not_stall_the_queue(self):
        import socket
        # A client that opens a job's event stream and never reads it, one that sends half
        # a request and waits, and one that vanishes mid-upload: the queue goes on.
        status, first, _ = self.srv.submit(self.photo_png, bg_upsampler="bicubic")
        self.assertEqual(status, 202, first)
        slow = socket.create_connection(("127.0.0.1", self.srv.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        slow.sendall(b"GET /api/jobs/%s/events HTTP/1.1\r\nHost: x\r\n\r\n" % first["id"].encode())
        half = socket.create_connection(("127.0.0.1", self.srv.port))
        half.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")
        gone = socket.create_connection(("127.0.0.1", self.srv.port))
        gone.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        gone.close()
        try:
            t0 = time.time()
            status, second, _ = self.srv.submit(self.photo_png, bg_upsampler="bicubic")
            self.assertEqual(status, 202, second)
            for job in (first, second):
                ev = self.srv.events(job["id"])
                self.assertEqual(ev[-1][1], "done", ev[-1])
            # Two small jobs take seconds; a stalled queue would wait for the 30 s socket
            # timeouts (or forever).
            self.assertLess(time.time() - t0, 25)
        finally:
            slow.close()
            half.close()

    def test_plan_creates_no_job(self):
        before = os.listdir(self.server_folder())
        body = "width=640&height=274&faces=3&tile=64"
        r, data = self.srv.request("POST", "/api/plan", body,
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, data)
        plan = json.loads(data)
        self.assertEqual(plan["restore"]["faces"], 3)
        self.assertGreaterEqual(plan["restore"]["batch"], 1)
        self.assertIsNotNone(plan["background"])
        self.assertGreater(plan["free_bytes"], 0)
        body, ctype = multipart({"width": "640", "height": "274", "bg_upsampler": "bicubic"})
        r, data = self.srv.request("POST", "/api/plan", body, {"Content-Type": ctype})
        self.assertEqual(r.status, 200, data)
        self.assertIsNone(json.loads(data)["background"])
        r, data = self.srv.request("POST", "/api/plan", "width=640",
                                   {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 400)
        self.assertIn("'height'", json.loads(data)["error"])
        self.assertEqual(os.listdir(self.server_folder()), before)

    def test_info_and_page(self):
        r, data = self.srv.request("GET", "/api/info")
        info = json.loads(data)
        self.assertEqual(info["limits"], {"max_upload_bytes": MAX_UPLOAD, "max_pixels": MAX_PIXELS,
                                          "max_queue": 16})
        self.assertEqual(info["devices"][0], "cpu")
        self.assertIn("RRDBNet", info["models"]["upscaler"])
        for path, ctype in (("/", "text/html"), ("/app.js", "application/javascript"),
                            ("/style.css", "text/css")):
            r, data = self.srv.request("GET", path)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.getheader("Content-Type").startswith(ctype))
            self.assertGreater(len(data), 0)


class ServeLifecycle(unittest.TestCase):
    def test_sigterm_finishes_the_running_job(self):
        with tempfile.TemporaryDirectory() as td:
            srv = Server(*MODEL_FLAGS, "--max-queue", "1", env=dict(os.environ, TMPDIR=td))
            try:
                with open(PHOTO, "rb") as f:
                    photo = f.read()
                status, running, _ = srv.submit(photo, tile="32", tile_pad="8")
                self.assertEqual(status, 202, running)
                self.wait_running(srv, running["id"])
                status, queued, _ = srv.submit(photo, bg_upsampler="bicubic")
                self.assertEqual(status, 202, queued)
                self.assertEqual(queued["position"], 0)
                # One job waits already: the queue (--max-queue 1) is full.
                status, full, r = srv.submit(photo)
                self.assertEqual(status, 503, full)
                self.assertIn("queue is full", full["error"])
                self.assertGreater(int(r.getheader("Retry-After")), 0)
                got = {}

                def follow(name, job_id):
                    got[name] = srv.events(job_id)

                threads = [threading.Thread(target=follow, args=(n, j["id"]))
                           for n, j in (("running", running), ("queued", queued))]
                for t in threads:
                    t.start()
                srv.proc.send_signal(signal.SIGTERM)
                for t in threads:
                    t.join(TIMEOUT)
                rc = srv.proc.wait(timeout=TIMEOUT)
            finally:
                if srv.proc.poll() is None:
                    srv.proc.kill()
            srv.drain.join(timeout=10)
            srv.proc.stderr.close()
            self.assertEqual(rc, 0, "".join(srv.lines))
            self.assertEqual(got["running"][-1][1], "done", got["running"][-3:])
            self.assertEqual(got["queued"][-1][1], "error")
            self.assertIn("shutting down", got["queued"][-1][2]["error"])
            self.assertEqual(os.listdir(td), [])

    @staticmethod
    def wait_running(srv, job_id):
        deadline = time.time() + TIMEOUT
        while time.time() < deadline:
            _, data = srv.request("GET", "/api/jobs/" + job_id)
            if json.loads(data)["state"] != "queued":
                return
            time.sleep(0.05)

    def test_finished_jobs_expire(self):
        with tempfile.TemporaryDirectory() as td:
            srv = Server(*MODEL_FLAGS, "--job-ttl", "1", env=dict(os.environ, TMPDIR=td))
            try:
                with open(PHOTO, "rb") as f:
                    status, job, _ = srv.submit(f.read(), bg_upsampler="bicubic")
                self.assertEqual(status, 202, job)
                self.assertEqual(srv.events(job["id"])[-1][1], "done")
                time.sleep(2.5)
                r, data = srv.request("GET", "/api/jobs/" + job["id"])
                self.assertEqual(r.status, 404, data)
                r, data = srv.request("GET", "/api/jobs/%s/result" % job["id"])
                self.assertEqual(r.status, 404, data)
                (folder,) = os.listdir(td)
                self.assertEqual(os.listdir(os.path.join(td, folder)), [])
            finally:
                self.assertEqual(srv.stop(), 0)

    def test_non_loopback_host_warns(self):
        srv = Server(*MODEL_FLAGS, "--host", "0.0.0.0")
        rc = srv.stop()
        self.assertEqual(rc, 0)
        text = "".join(srv.lines)
        self.assertIn("warning: --host 0.0.0.0", text)
        self.assertIn("serving on http://0.0.0.0:", text)


if __name__ == "__main__":
    unittest.main()
