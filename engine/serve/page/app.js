// The page's behaviour for `gpen serve`, in plain JavaScript (no framework, nothing fetched
// from outside the server): read the server's models and limits (GET /api/info), turn each
// dropped or picked photo into one job (POST /api/jobs, sent one after another so the queue
// keeps their order), follow each job's events live (EventSource on events_url) into its
// card in plain words, and when it is done show a before/after slider and a download link.
// Errors are shown as the server words them ("error" and "hint"); the card's data-state
// (queued, running, done, failed) is kept up to date for the browser test and for styling.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);

  const state = {
    info: null,          // the answer of GET /api/info, once it came
    jobCount: 0,         // numbers the cards: #compare-<n>
    uploads: Promise.resolve(),  // the chain that sends photos one at a time
    lastPhoto: null,     // {name, width, height, faces} for the plan preview
  };

  // ---------- small helpers ----------

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function bytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "?";
    const units = ["bytes", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
  }

  function seconds(s) {
    if (typeof s !== "number" || !isFinite(s)) return "?";
    if (s < 0.1) return (s * 1000).toFixed(0) + " ms";
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + " s";
    const m = Math.floor(s / 60);
    return m + " min " + Math.round(s - 60 * m) + " s";
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function parseJson(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function showBanner(text) {
    const b = $("#banner");
    b.textContent = text;
    b.hidden = !text;
  }

  // ---------- server info: header, devices, limits ----------

  // A model's description, short: up to its first " (" or ", " (the whole one is the tooltip).
  function describeModel(text, none) {
    if (text === null || text === undefined || text === "") return none;
    const t = String(text);
    const cut = t.search(/ \(|, /);
    return cut > 0 ? t.slice(0, cut) : t;
  }

  function loadInfo() {
    return fetch("/api/info", { cache: "no-store" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
      .then((info) => {
        state.info = info;
        const m = info.models || {};
        $("#model-restorer").textContent = describeModel(m.restorer, "none");
        $("#model-detector").textContent = describeModel(m.detector, "none (whole photo as one face)");
        $("#model-upscaler").textContent = describeModel(m.upscaler, "none (bicubic)");
        $("#model-restorer").title = m.restorer || "";
        $("#model-detector").title = m.detector || "";
        $("#model-upscaler").title = m.upscaler || "";
        $("#version").textContent = info.version ? "gpen " + info.version : "";
        fillDevices(info);
        fillOptions(info);
        syncChoices();
        const lim = info.limits || {};
        const parts = [];
        if (lim.max_upload_bytes) parts.push("Up to " + bytes(lim.max_upload_bytes) + " per photo");
        if (lim.max_pixels) parts.push((lim.max_pixels / 1e6).toFixed(lim.max_pixels < 1e7 ? 1 : 0) + " megapixels at most");
        $("#limits").textContent = parts.length ? parts.join(", ") + "." : "";
        showBanner("");
      })
      .catch(() => {
        showBanner("Can't reach the gpen server. Is `gpen serve` still running? Reload this page once it is.");
      });
  }

  function fillDevices(info) {
    const sel = $("#device");
    const devices = Array.isArray(info.devices) ? info.devices : [];
    sel.textContent = "";
    const def = info.default_device ? " (" + info.default_device + ")" : "";
    sel.appendChild(el("option", { value: "auto" }, "auto" + def));
    for (const d of devices) sel.appendChild(el("option", { value: d }, d === "cuda" ? "cuda (GPU)" : d));
    sel.value = "auto";
  }

  // Keep only the choices the server lists (the page's defaults otherwise).
  function fillOptions(info) {
    const o = info.options || {};
    const keep = (selId, allowed) => {
      if (!Array.isArray(allowed)) return;
      const names = allowed.map(String);
      for (const opt of Array.from($(selId).options)) {
        if (opt.value !== "auto" && names.indexOf(opt.value) < 0) opt.remove();
      }
    };
    keep("#precision", o.precision);
    keep("#upscale", o.upscale);
    keep("#bg-upsampler", o.bg_upsampler);
    if (!info.models || !info.models.upscaler) {
      const rrdb = $('#bg-upsampler option[value="rrdb"]');
      if (rrdb) { rrdb.disabled = true; rrdb.textContent += " — no upscaler model loaded"; }
    }
  }

  // ---------- settings ----------

  // Choices the server would refuse are disabled: fp16 runs on a GPU only, and without a
  // background upsampler the photo keeps its size (upscale 1).
  function syncChoices() {
    const info = state.info || {};
    const dev = $("#device").value === "auto" ? (info.default_device || "cpu") : $("#device").value;
    const fp16 = $('#precision option[value="fp16"]');
    if (fp16) {
      fp16.disabled = dev !== "cuda";
      fp16.textContent = dev === "cuda" ? "fp16" : "fp16 (GPU only)";
      if (fp16.disabled && $("#precision").value === "fp16") $("#precision").value = "auto";
    }
    const none = $("#bg-upsampler").value === "none";
    for (const opt of Array.from($("#upscale").options)) opt.disabled = none && opt.value !== "1";
    if (none) $("#upscale").value = "1";
  }

  const DEFAULTS = {
    tile: "auto", "tile-pad": "auto", "tile-batch": "auto", precision: "auto", device: "auto",
    upscale: "2", "bg-upsampler": "auto", "only-faces": false, alpha: "1", "hf-suppress": false,
  };

  function resetSettings() {
    for (const id in DEFAULTS) {
      const input = document.getElementById(id);
      if (typeof DEFAULTS[id] === "boolean") input.checked = DEFAULTS[id];
      else input.value = DEFAULTS[id];
    }
    showAlpha();
    syncChoices();
    settingsError("");
  }

  function showAlpha() {
    $("#alpha-value").textContent = Number($("#alpha").value).toFixed(2);
  }

  function settingsError(text) {
    const p = $("#settings-error");
    p.textContent = text;
    p.hidden = !text;
    if (text) $("#advanced").open = true;
  }

  // The settings as the API's fields, or throws an Error in plain words.
  function readSettings() {
    const num = (id, label, min) => {
      const v = document.getElementById(id).value.trim().toLowerCase();
      if (v === "" || v === "auto") return "auto";
      if (!/^\d+$/.test(v) || Number(v) < min) {
        throw new Error(label + ' must be "auto" or a whole number of at least ' + min + ' (it is "' + v + '").');
      }
      return String(Number(v));
    };
    return {
      tile: num("tile", "Tile size", 16),
      tile_pad: num("tile-pad", "Tile pad", 0),
      tile_batch: num("tile-batch", "Tile batch", 1),
      precision: $("#precision").value,
      device: $("#device").value,
      upscale: $("#upscale").value,
      bg_upsampler: $("#bg-upsampler").value,
      only_faces: $("#only-faces").checked ? "1" : "0",
      alpha: String(Number($("#alpha").value)),
      hf_suppress: $("#hf-suppress").checked ? "1" : "0",
    };
  }

  function settingsSummary(s) {
    const parts = ["upscale " + s.upscale + "×"];
    if (s.bg_upsampler !== "auto") parts.push("background " + s.bg_upsampler);
    if (s.only_faces === "1") parts.push("faces only");
    if (s.alpha !== "1") parts.push("strength " + s.alpha);
    if (s.hf_suppress === "1") parts.push("HF suppression");
    if (s.tile !== "auto") parts.push("tile " + s.tile);
    if (s.tile_pad !== "auto") parts.push("pad " + s.tile_pad);
    if (s.tile_batch !== "auto") parts.push("tile batch " + s.tile_batch);
    if (s.precision !== "auto") parts.push(s.precision);
    if (s.device !== "auto") parts.push(s.device);
    return parts.join(" · ");
  }

  // ---------- plans (plan events and the preview) ----------

  function meter(peak, budget) {
    const wrap = el("div", { class: "meter" });
    if (!(peak > 0) || !(budget > 0)) return wrap;
    const frac = Math.min(1, peak / budget);
    const fill = el("div", { class: "meter-fill" + (peak > budget ? " over" : "") });
    fill.style.width = (100 * frac).toFixed(1) + "%";
    wrap.appendChild(fill);
    wrap.setAttribute("role", "img");
    wrap.setAttribute("aria-label", "planned peak " + Math.round(100 * peak / budget) + "% of the budget");
    return wrap;
  }


  // One plan (stage "restore": RunPlan JSON; "background": TilePlan JSON) as a small block.
  function planBlock(stage, plan, freeBytes) {
    const box = el("div", { class: "plan" });
    const title = stage === "background" ? "Background" : stage === "restore" ? "Faces" : String(stage || "Plan");
    box.appendChild(el("h3", null, title));
    const rows = [];
    const run = stage === "background" && plan.run ? plan.run : plan;
    if (stage === "background" || plan.tiles !== undefined) {
      if (plan.tiles !== undefined) {
        let t = plural(plan.tiles, "tile", "tiles");
        if (plan.tiles_x && plan.tiles_y) t += " (" + plan.tiles_x + " × " + plan.tiles_y + ")";
        rows.push(["Tiles", t]);
      }
      if (plan.tile_w && plan.tile_h) {
        let t = plan.tile_w === plan.tile_h ? plan.tile_w + " px" : plan.tile_w + " × " + plan.tile_h + " px";
        if (plan.pad !== undefined) t += ", pad " + plan.pad + " px";
        rows.push(["Tile size", t]);
      }
      if (plan.tile_batch !== undefined) rows.push(["At once", plural(plan.tile_batch, "tile", "tiles")]);
      if (plan.work > 1) rows.push(["Work", plan.work.toFixed(1) + "× the image's pixels (each tile recomputes its pad)"]);
      if (plan.larger_tile > 0 && plan.larger_budget_bytes > 0) {
        // Rounded up, as the CLI says it; "more" against this pass's own budget (the
        // background has what the face restorer leaves of the server's --vram-budget).
        const mib = (b) => Math.ceil(b / 1048576);
        const more = run && run.budget_bytes > 0 ? mib(Math.max(1, plan.larger_budget_bytes - run.budget_bytes)) : 0;
        rows.push(["Larger tiles", plan.larger_tile + " px tiles would need " + mib(plan.larger_budget_bytes) +
                   " MB for this pass" + (more > 0 ? ", " + more + " MB more than it had" : "") +
                   " (a larger --vram-budget for the server, or free memory)"]);
      }
    } else {
      if (run.faces !== undefined) rows.push(["Faces", String(run.faces)]);
      if (run.batch !== undefined) rows.push(["Batch", plural(run.batch, "face", "faces") + " at once"]);
      if (run.passes !== undefined && run.passes > 1) rows.push(["Passes", String(run.passes)]);
      if (run.tiled) rows.push(["Split", "tiles of " + run.tile + " px (" + run.tiles_per_face + " per face)"]);
    }
    if (run && (run.device || run.precision)) rows.push(["Runs on", [run.device, run.precision].filter(Boolean).join(", ")]);
    const peak = run ? run.planned_peak_bytes : undefined;
    let budget = run ? run.budget_bytes : undefined;
    let source = run && run.budget_source;
    if (!(budget > 0) && freeBytes > 0) { budget = freeBytes; source = "free memory"; }
    if (peak !== undefined) {
      rows.push(["Memory", budget > 0 ? bytes(peak) + " of " + bytes(budget) : bytes(peak) + " at most"]);
    }
    const dl = el("dl");
    for (const [k, v] of rows) {
      const d = el("div");
      d.appendChild(el("dt", null, k));
      d.appendChild(el("dd", null, v));
      dl.appendChild(d);
    }
    box.appendChild(dl);
    if (peak > 0 && budget > 0) {
      box.appendChild(meter(peak, budget));
      box.appendChild(el("p", { class: "budget-note" }, "Planned peak against the budget" + (source ? ": " + source : "") + "."));
    }
    return box;
  }

  function previewPlan() {
    const out = $("#plan-preview");
    let s;
    try { s = readSettings(); } catch (e) { settingsError(e.message); return; }
    settingsError("");
    const photo = state.lastPhoto;
    if (!photo) {
      out.hidden = false;
      out.textContent = "Add a photo first: the plan depends on its size. (The preview then uses the last photo added.)";
      return;
    }
    const body = new URLSearchParams(s);
    body.set("width", photo.width);
    body.set("height", photo.height);
    body.set("faces", Math.max(1, photo.faces || 1));  // the server plans for 1 face at least
    out.hidden = false;
    out.textContent = "Planning…";
    fetch("/api/plan", { method: "POST", body })
      .then((r) => r.text().then((t) => ({ r, j: parseJson(t) })))
      .then(({ r, j }) => {
        out.textContent = "";
        if (!r.ok || !j) {
          out.appendChild(el("p", { class: "error-text" }, (j && j.error) || "The server could not plan (HTTP " + r.status + ")."));
          if (j && j.hint) out.appendChild(el("p", { class: "muted small" }, j.hint));
          return;
        }
        out.appendChild(el("p", { class: "small" }, "For " + photo.name + " (" + photo.width + " × " + photo.height + " px, " +
          plural(Number(body.get("faces")), "face", "faces") + "), nothing run:"));
        const row = el("div", { class: "plans" });
        if (j.restore) row.appendChild(planBlock("restore", j.restore, j.free_bytes));
        if (j.background) row.appendChild(planBlock("background", j.background, j.free_bytes));
        else row.appendChild(el("p", { class: "muted small" }, "No background pass with these settings."));
        out.appendChild(row);
        if (j.free_bytes > 0) out.appendChild(el("p", { class: "muted small" }, "Free memory now: " + bytes(j.free_bytes) + "."));
      })
      .catch(() => { out.textContent = "Can't reach the server to plan."; });
  }

  // ---------- job cards ----------

  function Job(file, settings) {
    this.n = ++state.jobCount;
    this.file = file;
    this.settings = settings;
    this.originalUrl = URL.createObjectURL(file);
    this.lastSeq = -1;
    this.busyTries = 0;
    this.faces = null;
    this.stages = [];
    this.es = null;
    this.resultBlobUrl = null;
    this.doneShown = false;
    this.makeCard();
  }

  Job.prototype.makeCard = function () {
    const li = $("#job-template").content.firstElementChild.cloneNode(true);
    this.card = li;
    li.id = "job-" + this.n;
    $(".job-name", li).textContent = this.file.name;
    $(".job-name", li).title = this.file.name;
    const img = $(".original-only", li);
    img.src = this.originalUrl;
    img.alt = "The original photo " + this.file.name;
    img.addEventListener("error", () => { $(".viewer", li).hidden = true; }, { once: true });
    img.addEventListener("load", () => {
      this.width = img.naturalWidth;
      this.height = img.naturalHeight;
      this.showSize();
      state.lastPhoto = { name: this.file.name, width: this.width, height: this.height };
    }, { once: true });
    this.showSize();
    $(".remove", li).addEventListener("click", () => this.remove());
    $(".retry", li).addEventListener("click", () => this.retry());
    // Newest batch first; within a batch, the order the photos were chosen in.
    $("#jobs").insertBefore(li, state.anchor || null);
    $("#empty").hidden = true;
    this.setState("uploading");
    this.status("Sending the photo to the server…");
  };

  Job.prototype.showSize = function () {
    const parts = [];
    if (this.width) parts.push(this.width + " × " + this.height + " px");
    parts.push(bytes(this.file.size));
    const summary = settingsSummary(this.settings);
    if (summary) parts.push(summary);
    $(".job-size", this.card).textContent = parts.join(" · ");
  };

  const BADGES = { uploading: "Sending", queued: "Queued", running: "Working", done: "Done", failed: "Failed" };

  Job.prototype.setState = function (s) {
    this.state = s;
    this.card.dataset.state = s;
    $(".badge", this.card).textContent = BADGES[s] || s;
  };

  Job.prototype.status = function (text) {
    $(".status", this.card).textContent = text;
  };

  Job.prototype.progress = function (done, total) {
    const bar = $(".progress", this.card);
    if (!(total > 0)) { bar.hidden = true; return; }
    const pct = Math.max(0, Math.min(100, (100 * done) / total));
    bar.hidden = false;
    bar.setAttribute("aria-valuenow", pct.toFixed(0));
    $(".progress-fill", bar).style.width = pct.toFixed(1) + "%";
  };

  Job.prototype.problem = function (headline, detail, hint, canRetry) {
    const box = $(".problem", this.card);
    box.hidden = false;
    $(".problem-error", box).textContent = headline || "Something went wrong.";
    $(".problem-detail", box).textContent = detail ? "The server said: " + detail : "";
    $(".problem-detail", box).hidden = !detail;
    $(".problem-hint", box).textContent = hint || "";
    $(".problem-hint", box).hidden = !hint;
    $(".retry", box).hidden = !canRetry;
  };

  Job.prototype.clearProblem = function () {
    $(".problem", this.card).hidden = true;
  };

  Job.prototype.notice = function (message) {
    const ul = $(".notices", this.card);
    ul.hidden = false;
    ul.appendChild(el("li", null, message));
  };

  Job.prototype.more = function () {
    const d = $(".more", this.card);
    if (d.hidden) { d.hidden = false; d.open = true; }
    return d;
  };

  Job.prototype.addPlan = function (stage, plan) {
    if (!plan || typeof plan !== "object") return;
    const plans = $(".plans", this.more());
    const key = "plan-" + String(stage);
    const old = plans.querySelector('[data-stage="' + key + '"]');
    const block = planBlock(stage, plan);
    block.dataset.stage = key;
    if (old) old.replaceWith(block); else plans.appendChild(block);
  };

  const STAGE_NAMES = {
    decode: "Read the photo", detect: "Find faces", align: "Align faces", restore: "Restore faces",
    background: "Upscale background", paste: "Paste faces back", write: "Write the result",
  };

  const STAGE_ORDER = ["decode", "detect", "align", "restore", "background", "paste", "write"];

  // One row per stage, in the pipeline's order (stages end out of order when they overlap).
  Job.prototype.addStage = function (name, secs) {
    const tbody = $(".stages tbody", this.more());
    const rank = (n) => { const i = STAGE_ORDER.indexOf(n); return i < 0 ? STAGE_ORDER.length : i; };
    const tr = el("tr");
    tr.dataset.stage = name;
    tr.appendChild(el("td", null, STAGE_NAMES[name] || name));
    tr.appendChild(el("td", null, seconds(secs)));
    const after = Array.from(tbody.rows).find((r) => r.classList.contains("total") || rank(r.dataset.stage) > rank(name));
    tbody.insertBefore(tr, after || null);
  };

  // Send the photo; on success follow its events.
  Job.prototype.upload = function () {
    if (this.removed) return Promise.resolve();
    const lim = state.info && state.info.limits;
    if (lim && lim.max_upload_bytes && this.file.size > lim.max_upload_bytes) {
      this.fail("This photo is too large: " + bytes(this.file.size) + ", and the server takes at most " +
        bytes(lim.max_upload_bytes) + " per photo.", "", "Save it smaller (for example as JPEG) and add it again.", false);
      return Promise.resolve();
    }
    const form = new FormData();
    form.append("image", this.file, this.file.name);
    for (const k in this.settings) form.append(k, this.settings[k]);
    this.setState("uploading");
    this.status("Sending the photo to the server…");
    this.clearProblem();
    return fetch("/api/jobs", { method: "POST", body: form })
      .then((r) => r.text().then((t) => ({ r, j: parseJson(t) })))
      .then(({ r, j }) => {
        if (r.status === 202 && j && j.id) return this.accepted(j);
        if (r.status === 503 && this.busyTries < MAX_BUSY_TRIES) return this.waitForRoom(r, j);
        this.rejected(r, j);
      })
      .catch(() => {
        this.fail("Can't reach the server: the photo was not sent.", "",
          "Check that `gpen serve` is still running, then press Try again.", true);
      });
  };

  // The queue is full: wait as long as the server asks (Retry-After), then send again.
  // The photos after this one wait too, so that they keep their order.
  const MAX_BUSY_TRIES = 30;

  Job.prototype.waitForRoom = function (r, j) {
    this.busyTries++;
    const after = Math.max(1, Math.min(120, Number(r.headers.get("Retry-After")) || 10));
    let left = Math.ceil(after);
    return new Promise((resolve) => {
      const tick = () => {
        if (this.removed) return resolve();
        if (left <= 0) return resolve(this.upload());
        this.status("The server's queue is full: trying again in " + plural(left, "second", "seconds") + "…");
        left--;
        setTimeout(tick, 1000);
      };
      tick();
    });
  };

  Job.prototype.rejected = function (r, j) {
    const error = j && j.error;
    const hint = j && j.hint;
    if (r.status === 413) {
      this.fail("This photo is too large for the server.", error, hint || "Make it smaller and add it again.", false);
    } else if (r.status === 415) {
      this.fail("This file is not a photo the server can read.", error, hint || "Use a PNG or JPEG photo.", false);
    } else if (r.status === 503) {
      const after = Number(r.headers.get("Retry-After"));
      const when = after > 0 ? " Try again in about " + plural(Math.ceil(after), "second", "seconds") + "." : "";
      this.fail("The server is busy: its queue of photos is full." + when, error, hint || "Try again in a while.", true);
    } else if (r.status === 400) {
      this.fail("The server did not accept a setting.", error, hint || "Check the advanced settings.", true);
    } else {
      this.fail("The server could not take this photo (HTTP " + r.status + ").", error, hint, true);
    }
  };

  Job.prototype.accepted = function (j) {
    this.id = j.id;
    this.urls = { status: j.status_url, events: j.events_url, result: j.result_url };
    this.card.dataset.id = j.id;
    this.setState("queued");
    this.queuedStatus(j.position);
    this.follow();
  };

  Job.prototype.queuedStatus = function (position) {
    if (typeof position !== "number" || position <= 0) this.status("Queued (next in line)");
    else this.status("Queued (" + position + " ahead of you)");
  };

  Job.prototype.follow = function () {
    if (this.es) this.es.close();
    const es = new EventSource(this.urls.events);
    this.es = es;
    const on = (kind, fn) => es.addEventListener(kind, (e) => {
      const seq = Number(e.lastEventId);
      if (e.lastEventId !== "" && isFinite(seq)) {
        if (seq <= this.lastSeq) return;  // a replayed event already shown
        this.lastSeq = seq;
      }
      const data = parseJson(e.data) || {};
      this.clearLost();
      fn(data);
    });
    es.addEventListener("open", () => this.clearLost());
    on("queued", (d) => { if (this.state === "queued") this.queuedStatus(d.position); });
    on("started", (d) => {
      this.setState("running");
      this.device = d.device;
      this.status("Detecting faces…");
    });
    on("plan", (d) => { this.running(); this.addPlan(d.stage, d.plan); });
    on("faces", (d) => {
      this.running();
      this.faces = d.count;
      if (state.lastPhoto && state.lastPhoto.name === this.file.name) state.lastPhoto.faces = d.count;
      this.status(d.count > 0 ? "Found " + plural(d.count, "face", "faces") : "Found no faces: only the background is improved");
      this.progress(0, 0);
    });
    on("batch", (d) => {
      this.running();
      this.status("Restoring faces [" + d.done + "/" + d.total + "]");
      this.progress(d.done, d.total);
    });
    on("tile", (d) => {
      this.running();
      this.status("Processing tile [" + d.done + "/" + d.total + "]");
      this.card.dataset.tiles = d.done + "/" + d.total;
      this.progress(d.done, d.total);
    });
    on("stage", (d) => { this.running(); this.addStage(d.name, d.seconds); });
    on("notice", (d) => { this.notice(d.message || JSON.stringify(d)); });
    on("done", (d) => { es.close(); this.finished(d); });
    // "error" is both the job's error event (a MessageEvent with data) and the
    // EventSource's own connection error (no data).
    es.addEventListener("error", (e) => {
      if (typeof e.data === "string" && e.data !== "") {
        es.close();
        const d = parseJson(e.data) || {};
        this.fail(failHeadline(d.error), d.error, d.hint, true);
        return;
      }
      if (this.state === "done" || this.state === "failed") { es.close(); return; }
      if (es.readyState === EventSource.CLOSED) this.checkGone();
      else this.lost();
    });
  };

  Job.prototype.running = function () {
    if (this.state === "queued") this.setState("running");
  };

  Job.prototype.lost = function () {
    if (this.lostShown) return;
    this.lostShown = true;
    this.savedStatus = $(".status", this.card).textContent;
    this.status("Lost the connection to the server; trying again…");
    this.card.classList.add("lost");
    // Still lost after a while: ask the server directly, to tell "gone" from "slow".
    this.lostTimer = setTimeout(() => { if (this.lostShown) this.checkGone(); }, 8000);
  };

  Job.prototype.clearLost = function () {
    if (!this.lostShown) return;
    this.lostShown = false;
    clearTimeout(this.lostTimer);
    this.card.classList.remove("lost");
    if (this.savedStatus) this.status(this.savedStatus);
  };

  // The event stream closed for good: ask the server what it knows of the job.
  Job.prototype.checkGone = function () {
    fetch(this.urls.status, { cache: "no-store" })
      .then((r) => r.text().then((t) => ({ r, j: parseJson(t) })))
      .then(({ r, j }) => {
        if (r.status === 404) {
          this.fail("The server no longer knows this photo (it was restarted, or the job expired).", "",
            "Add the photo again.", true);
        } else if (j && j.state === "done") {
          this.finished(j.result || {});
        } else if (j && j.state === "failed") {
          const e = j.error || {};
          this.fail(failHeadline(e.error), e.error, e.hint, true);
        } else if (!this.es || this.es.readyState === EventSource.CLOSED) {
          setTimeout(() => this.follow(), 2000);
        }
      })
      .catch(() => {
        this.fail("The server is gone: it stopped answering before the photo was finished.", "",
          "Start `gpen serve` again, then press Try again.", true);
        showBanner("The gpen server stopped answering. Start it again, then press Try again on the photos that did not finish.");
      });
  };

  // A failed job's headline: the plain-words kind of failure; the server's words follow it.
  function failHeadline(error) {
    if (/out of memory|allocat/i.test(error || "")) return "The computer ran out of memory for this photo.";
    return "The restoration failed.";
  }

  Job.prototype.fail = function (headline, detail, hint, canRetry) {
    if (this.es) { this.es.close(); this.es = null; }
    this.lostShown = false;
    clearTimeout(this.lostTimer);
    this.card.classList.remove("lost");
    this.setState("failed");
    this.status("Failed");
    this.progress(0, 0);
    this.problem(headline, detail, hint, canRetry);
  };

  // Send the photo again, with the settings as they are now (a failed photo's hint is
  // often to change one).
  Job.prototype.retry = function () {
    try { this.settings = readSettings(); } catch (e) { settingsError(e.message); return; }
    this.showSize();
    this.doneShown = false;
    this.busyTries = 0;
    this.lastSeq = -1;
    this.clearProblem();
    const plans = $(".plans", this.card), tbody = $(".stages tbody", this.card);
    plans.textContent = "";
    tbody.textContent = "";
    $(".more", this.card).hidden = true;
    $(".notices", this.card).textContent = "";
    $(".notices", this.card).hidden = true;
    delete this.card.dataset.id;
    if (!state.info || !$("#banner").hidden) loadInfo();
    state.uploads = state.uploads.then(() => this.upload());
  };

  Job.prototype.finished = function (d) {
    if (this.doneShown) return;
    this.doneShown = true;
    this.setState("done");
    this.progress(0, 0);
    const total = typeof d.seconds === "number" ? d.seconds : null;
    this.status(total !== null ? "Done in " + seconds(total) : "Done");
    if (d.width && d.height) {
      const sz = $(".job-size", this.card);
      sz.textContent = sz.textContent + " → " + d.width + " × " + d.height + " px" + (d.bytes ? ", " + bytes(d.bytes) : "");
    }
    if (total !== null && this.stages) {
      const tbody = $(".stages tbody", this.more());
      const tr = el("tr", { class: "total" });
      tr.appendChild(el("td", null, "Total"));
      tr.appendChild(el("td", null, seconds(total)));
      tbody.appendChild(tr);
    }
    this.showCompare();
    const a = $(".download", this.card);
    a.href = this.urls.result + "?download=1";
    const base = this.file.name.replace(/\.[^.]*$/, "");
    a.setAttribute("download", (base || "photo") + "-restored.png");
    // The server deletes its copy once downloaded: later downloads come from the page's copy.
    a.addEventListener("click", () => {
      setTimeout(() => {
        if (this.resultBlobUrl) a.href = this.resultBlobUrl;
      }, 0);
    });
    $(".done-actions", this.card).hidden = false;
  };

  // The before/after slider: the result below, the original on top clipped to the left part.
  Job.prototype.showCompare = function () {
    const viewer = $(".viewer", this.card);
    viewer.textContent = "";
    viewer.classList.add("compare-view");
    const stage = el("div", { class: "compare-stage" });
    const after = el("img", { class: "result", alt: "The restored photo " + this.file.name });
    const before = el("img", { class: "before", alt: "The original photo " + this.file.name });
    before.src = this.originalUrl;
    const line = el("div", { class: "compare-line", "aria-hidden": "true" });
    stage.appendChild(after);
    stage.appendChild(before);
    stage.appendChild(line);
    stage.appendChild(el("span", { class: "tag tag-before", "aria-hidden": "true" }, "Before"));
    stage.appendChild(el("span", { class: "tag tag-after", "aria-hidden": "true" }, "After"));
    const id = "compare-" + this.n;
    const label = el("label", { for: id, class: "visually-hidden" }, "Before and after: move to compare");
    const range = el("input", { type: "range", id, class: "compare", min: "0", max: "100", step: "0.5", value: "50" });
    const set = () => {
      const v = Number(range.value);
      before.style.clipPath = "inset(0 " + (100 - v) + "% 0 0)";
      line.style.left = v + "%";
      range.setAttribute("aria-valuetext", Math.round(v) + "% original");
    };
    range.addEventListener("input", set);
    set();
    // Drag on the picture itself, too.
    const drag = (e) => {
      const rect = stage.getBoundingClientRect();
      if (!rect.width) return;
      range.value = String(Math.max(0, Math.min(100, (100 * (e.clientX - rect.left)) / rect.width)));
      set();
    };
    stage.addEventListener("pointerdown", (e) => {
      stage.setPointerCapture(e.pointerId);
      drag(e);
      const move = (ev) => drag(ev);
      const up = () => { stage.removeEventListener("pointermove", move); stage.removeEventListener("pointerup", up); };
      stage.addEventListener("pointermove", move);
      stage.addEventListener("pointerup", up);
    });
    viewer.appendChild(stage);
    viewer.appendChild(label);
    viewer.appendChild(range);
    // The result, fetched once: shown here and kept for downloads after the server's copy is gone.
    fetch(this.urls.result, { cache: "no-store" })
      .then((r) => (r.ok ? r.blob() : Promise.reject(r)))
      .then((blob) => {
        this.resultBlobUrl = URL.createObjectURL(blob);
        after.src = this.resultBlobUrl;
      })
      .catch(() => { after.src = this.urls.result; });
  };

  Job.prototype.remove = function () {
    this.removed = true;
    if (this.es) this.es.close();
    this.card.remove();
    if (!$("#jobs").children.length) $("#empty").hidden = false;
  };

  // ---------- intake: drop zone and file picker ----------

  function addFiles(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length) return;
    let settings;
    try { settings = readSettings(); } catch (e) { settingsError(e.message); return; }
    settingsError("");
    state.anchor = $("#jobs").firstElementChild;
    for (const f of files) {
      const job = new Job(f, settings);
      state.uploads = state.uploads.then(() => job.upload());
    }
  }

  function setupDrop() {
    const drop = $("#drop");
    const input = $("#file");
    input.addEventListener("change", () => {
      addFiles(input.files);
      input.value = "";
    });
    // A click anywhere on the zone opens the picker (the label does so by itself).
    drop.addEventListener("click", (e) => {
      if (!e.target.closest("label, input, a, button")) input.click();
    });
    let depth = 0;
    drop.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.classList.remove("over"); } });
    drop.addEventListener("dragover", (e) => { e.preventDefault(); e.dataTransfer.dropEffect = "copy"; });
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      drop.classList.remove("over");
      addFiles(e.dataTransfer.files);
    });
    // A photo dropped beside the zone should not make the browser leave the page.
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => {
      e.preventDefault();
      if (!drop.contains(e.target)) addFiles(e.dataTransfer.files);
    });
  }

  function setup() {
    setupDrop();
    $("#alpha").addEventListener("input", showAlpha);
    for (const id of ["#device", "#bg-upsampler"]) $(id).addEventListener("change", syncChoices);
    $("#plan-button").addEventListener("click", previewPlan);
    $("#reset-button").addEventListener("click", resetSettings);
    for (const id of ["tile", "tile-pad", "tile-batch"]) {
      document.getElementById(id).addEventListener("change", () => {
        try { readSettings(); settingsError(""); } catch (e) { settingsError(e.message); }
      });
    }
    showAlpha();
    loadInfo();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
