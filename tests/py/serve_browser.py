"""The `gpen serve` page in a real browser: headless Chromium driven by Selenium.

Starts `gpen serve` (tiny GPEN fixture, the RetinaFace detector, the tiny x2 RRDB
upscaler, --port 0, CPU), opens its page, sets the tile size in "Advanced settings",
uploads a photo through the file input, and follows the job's card until it is done:
its status must have shown "Processing tile [i/N]", the result image must be twice the
photo's size, the Download link must give that PNG, and the server must stop cleanly
on SIGTERM. A screenshot of the finished page goes to the test output folder.

Selenium is Debian's python3-selenium, installed for /usr/bin/python3 (ctest runs this
file with it). Without selenium, /usr/bin/chromium or /usr/bin/chromedriver the test
prints why and exits 0 (skipped); GPEN_REQUIRE_BROWSER=1 makes that a failure.

Needs GPEN_BIN and GPEN_TEST_MODELS_DIR (ctest sets both); GPEN_SHARED_DIR for the
Solvay photo (else the RetinaFace fixture's photo); GPEN_TEST_OUTPUT_DIR for where the
screenshot goes (else test_output/ beside the test models).
"""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_paths  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BIN = os.environ.get("GPEN_BIN", "build/gpen")
MODELS = os.environ.get("GPEN_TEST_MODELS_DIR", "build/test_models")
ROOT = fixture_paths.ROOT
JOB_TIMEOUT_S = 300


def skip(why):
    if os.environ.get("GPEN_REQUIRE_BROWSER") == "1":
        print("serve_browser: FAILED: " + why + " (GPEN_REQUIRE_BROWSER=1 forbids skipping)")
        sys.exit(1)
    print("serve_browser: skipped: " + why)
    sys.exit(0)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError as e:
    skip("%s cannot import selenium (%s); on Debian: apt-get install python3-selenium, "
         "and run this with /usr/bin/python3" % (sys.executable, e))
for tool in (CHROMIUM, CHROMEDRIVER):
    if not os.path.exists(tool):
        skip(tool + " is missing; on Debian: apt-get install chromium chromium-driver")


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG: %r" % data[:16]
    return struct.unpack(">II", data[16:24])


def detector_args():
    real = os.path.join(ROOT, "models", "retinaface-mnet.safetensors")
    if os.path.isfile(real):
        return [real], "the real RetinaFace detector"
    rf_set = fixture_paths.fixture_dir("retinaface", "retinaface_mnet")
    with open(os.path.join(rf_set, "meta.json")) as f:
        meta = json.load(f)
    # The fixture's threshold, as a decimal the CLI reads back to the same float32 (random
    # weights: upstream's own threshold finds its faces).
    return ([os.path.join(MODELS, "retinaface_mnet.safetensors"), "--threshold",
             "%.9g" % meta["confidence_threshold"]], "the RetinaFace fixture (random weights)")


def photo_path():
    solvay = os.path.join(fixture_paths.shared_dir(), "images", "solvay_conference_1927.png")
    if os.path.isfile(solvay):
        return solvay
    fallback = os.path.join(fixture_paths.fixture_dir("retinaface", "retinaface_mnet"), "input.png")
    print("serve_browser: %s not found; using %s" % (solvay, fallback))
    return fallback


def output_dir():
    d = os.environ.get("GPEN_TEST_OUTPUT_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(MODELS)), "test_output")
    os.makedirs(d, exist_ok=True)
    return d


class Server:
    """`gpen serve` on a free port; its stderr is kept (and echoed) for the report."""

    def __init__(self, args):
        self.lines = []
        self.proc = subprocess.Popen([BIN, "serve", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.url = None
        found = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
                if m and not self.url:
                    self.url = m.group(1)
                    found.set()
            found.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        found.wait(120)
        if not self.url:
            self.proc.kill()
            raise AssertionError("gpen serve did not say where it serves; its stderr:\n" +
                                 "\n".join(self.lines))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("gpen serve did not stop within 60 s of SIGTERM")
        self.reader.join(5)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def http_get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


def events_of(url):
    """The job's event stream, read to its end (the job is done: replay, then the end)."""
    _, headers, body = http_get(url, timeout=60)
    assert headers.get("Content-Type", "").startswith("text/event-stream"), headers
    events = []
    for block in body.decode().split("\n\n"):
        kind, data = None, None
        for line in block.split("\n"):
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
        if kind:
            events.append((kind, json.loads(data) if data else None))
    return events


def browser():
    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--hide-scrollbars", "--force-device-scale-factor=1"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    # A laptop's view, 1280x900 CSS pixels, whatever the headless window's frame takes.
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
    return d


def main():
    t_start = time.time()
    photo = photo_path()
    with open(photo, "rb") as f:
        in_w, in_h = png_size(f.read(33))
    det, det_words = detector_args()
    print("serve_browser: photo %s (%dx%d), detector: %s" % (photo, in_w, in_h, det_words))
    server = Server(["-m", os.path.join(MODELS, "tiny64.safetensors"), "--detector", *det,
                     "--upscaler", os.path.join(MODELS, "rrdb_x2_tiny.safetensors"),
                     "--port", "0", "--device", "cpu"])
    print("serve_browser: server at " + server.url)
    driver = None
    try:
        # The page's three files come from the server itself, and name nothing elsewhere.
        for path, ctype in (("", "text/html"), ("app.js", "application/javascript"), ("style.css", "text/css")):
            _, headers, body = http_get(server.url + path)
            assert headers.get("Content-Type", "").startswith(ctype), (path, headers)
            assert not re.search(rb"https?:|url\(\s*['\"]?//|src=['\"]//", body), "%s names a resource elsewhere" % (path or "/")
        driver = browser()
        driver.get(server.url)
        # The header lists the loaded models once GET /api/info answered.
        deadline = time.time() + 30
        while driver.find_element(By.ID, "model-restorer").text in ("", "…"):
            assert time.time() < deadline, "the page did not show the models from /api/info"
            time.sleep(0.1)
        print("serve_browser: models shown: " + " | ".join(
            driver.find_element(By.ID, i).text for i in ("model-restorer", "model-detector", "model-upscaler")))
        assert not driver.find_element(By.ID, "advanced").get_attribute("open"), "Advanced settings start open"

        # Advanced settings: a 128 px tile for the background upscaler; then the photo,
        # which starts its job as soon as it is chosen.
        driver.find_element(By.CSS_SELECTOR, "#advanced > summary").click()
        tile = driver.find_element(By.ID, "tile")
        assert tile.is_displayed()
        tile.clear()
        tile.send_keys("128")
        assert driver.find_element(By.ID, "upscale").get_attribute("value") == "2"
        driver.find_element(By.ID, "file").send_keys(os.path.abspath(photo))

        # Follow the card until done, noting every status it shows.
        seen, job_id, state = [], None, None
        t0 = time.time()
        while True:
            info = driver.execute_script(
                "const c = document.querySelector('.job');"
                "if (!c) return null;"
                "const p = c.querySelector('.problem');"
                "return [c.dataset.id || null, c.dataset.state, c.querySelector('.status').textContent,"
                " p.hidden ? '' : p.textContent, c.dataset.tiles || ''];")
            if info:
                job_id, state, status, problem, tiles = info
                if not seen or seen[-1] != status:
                    seen.append(status)
                if state == "failed":
                    raise AssertionError("the job failed: %s | %s" % (status, " ".join(problem.split())))
                if state == "done":
                    break
            if time.time() - t0 > JOB_TIMEOUT_S:
                raise AssertionError("the job was not done after %d s; statuses: %s" % (JOB_TIMEOUT_S, seen))
            time.sleep(0.05)
        job_s = time.time() - t0
        print("serve_browser: job %s done in %.1f s; statuses shown (%d): %s" % (
            job_id, job_s, len(seen), " -> ".join(seen[:6] + (["…"] if len(seen) > 12 else []) + seen[-6:])))
        assert job_id and re.fullmatch(r"[0-9a-f]{32}", job_id), job_id
        assert re.match(r"Done in \d", seen[-1]), seen[-1]
        shown_tiles = any(s.startswith("Processing tile [") for s in seen)
        # Tiles can pass quicker than the polling: then the card's last tile count shows
        # that the page handled the tile events (and the server's stream must have them).
        assert shown_tiles or re.fullmatch(r"\d+/\d+", tiles), "no \"Processing tile [\" shown: %s" % seen
        if not shown_tiles:
            print("serve_browser: the tile statuses passed between polls; the card's last tile: " + tiles)

        # The server saw the settings as set, and streamed tile events.
        base = server.url.rstrip("/")
        _, _, body = http_get(base + "/api/jobs/" + job_id)
        status = json.loads(body)
        assert status["state"] == "done", status
        settings = status.get("settings", {})
        assert str(settings.get("tile")) == "128", settings
        kinds = [k for k, _ in events_of(base + "/api/jobs/" + job_id + "/events")]
        assert "tile" in kinds and kinds[-1] == "done", kinds

        # The before/after slider and the result, twice the photo's size.
        deadline = time.time() + 60
        while True:
            nat = driver.execute_script(
                "const i = document.querySelector('.job img.result');"
                "return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null;")
            if nat and nat[0] > 0:
                break
            assert time.time() < deadline, "the result image did not load"
            time.sleep(0.1)
        assert nat == [2 * in_w, 2 * in_h], "result %s, photo %dx%d" % (nat, in_w, in_h)
        compare = driver.find_element(By.CSS_SELECTOR, ".job input.compare")
        assert re.fullmatch(r"compare-\d+", compare.get_attribute("id")), compare.get_attribute("id")
        driver.execute_script(
            "arguments[0].value = 38; arguments[0].dispatchEvent(new Event('input'));", compare)
        clip = driver.execute_script("return document.querySelector('.job img.before').style.clipPath")
        assert "62%" in clip, clip

        # The Download link gives the PNG, as an attachment.
        link = driver.find_element(By.CSS_SELECTOR, ".job a.download")
        assert link.is_displayed()
        href = link.get_attribute("href")
        assert href == base + "/api/jobs/" + job_id + "/result?download=1", href
        assert link.get_attribute("download"), "the Download link has no download attribute"
        code, headers, data = http_get(href)
        assert code == 200 and headers.get("Content-Type") == "image/png", (code, headers)
        assert "attachment" in headers.get("Content-Disposition", ""), headers
        assert png_size(data) == (2 * in_w, 2 * in_h), png_size(data)
        print("serve_browser: download %d bytes, %dx%d" % ((len(data),) + png_size(data)))

        # The screenshot: the finished card, settings folded away, at the top of the view.
        driver.execute_script(
            "document.getElementById('advanced').open = false;"
            "window.scrollTo(0, 0);")
        time.sleep(0.3)
        shot = os.path.join(output_dir(), "serve_browser.png")
        driver.save_screenshot(shot)
        print("serve_browser: screenshot " + shot)

        logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        for e in logs:
            print("serve_browser: browser console: " + e.get("message", ""))
        bad = [e for e in logs if "/app.js" in e.get("message", "")]
        assert not bad, "errors from app.js in the browser console"
    except BaseException:
        print("serve_browser: server stderr (last 40 lines):\n  " + "\n  ".join(server.lines[-40:]))
        if driver is not None:
            driver.quit()
        server.kill()
        raise
    driver.quit()
    rc = server.stop()
    assert rc == 0, "gpen serve exited %d after SIGTERM; stderr:\n%s" % (rc, "\n".join(server.lines[-40:]))
    print("serve_browser: OK in %.1f s" % (time.time() - t_start))


if __name__ == "__main__":
    main()
