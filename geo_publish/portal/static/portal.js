// geo-publish portal: resumable uploads (tus-like: POST, HEAD, PATCH with Upload-Offset) with a
// progress bar, and the job page's progress. No framework, nothing off-origin.
"use strict";
(function () {
  const CHUNK = 8 * 1024 * 1024;
  const csrf = document.body.dataset.csrf;

  function word(key) {
    const t = document.getElementById("words");
    const el = t && t.content.querySelector('[data-k="' + key + '"]');
    return el ? el.textContent : key;
  }

  async function api(method, url, body) {
    const r = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json"},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) throw new Error((data && data.description) || ("HTTP " + r.status));
    return data;
  }

  async function offsetOf(url) {
    const r = await fetch(url, {method: "HEAD", credentials: "same-origin"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    return parseInt(r.headers.get("Upload-Offset"), 10);
  }

  function patch(url, blob, offset, onBytes) {
    return new Promise(function (resolve, reject) {
      const x = new XMLHttpRequest();
      x.open("PATCH", url);
      x.setRequestHeader("Content-Type", "application/offset+octet-stream");
      x.setRequestHeader("Upload-Offset", String(offset));
      x.setRequestHeader("X-CSRF-Token", csrf);
      x.upload.onprogress = function (e) { onBytes(offset + e.loaded); };
      x.onload = function () {
        if (x.status === 204) resolve(parseInt(x.getResponseHeader("Upload-Offset"), 10));
        else {
          let text = "HTTP " + x.status;
          try { text = JSON.parse(x.responseText).description || text; } catch (e) { /* keep */ }
          const err = new Error(text); err.status = x.status; reject(err);
        }
      };
      x.onerror = function () { const err = new Error("network"); err.status = 0; reject(err); };
      x.send(blob);
    });
  }

  async function send(file, org, show) {
    // an unfinished upload of the same file (name and size) continues where it stopped
    const open = await api("GET", "/publish/api/uploads?org=" + encodeURIComponent(org));
    let up = open.uploads.find(function (u) { return u.filename === file.name && u.size === file.size; });
    if (up) show.status(word("resuming"));
    else up = await api("POST", "/publish/api/uploads", {org, filename: file.name, size: file.size});
    let offset = up.offset;
    let failures = 0;
    while (offset < file.size) {
      try {
        offset = await patch(up.location, file.slice(offset, offset + CHUNK), offset, show.bytes);
        failures = 0;
      } catch (err) {
        if (err.status && err.status !== 409 && err.status < 500) throw err;
        if (++failures > 30) throw err;
        await new Promise(function (r) { setTimeout(r, Math.min(1000 * failures, 10000)); });
        offset = await offsetOf(up.location);  // continue from what the server has
      }
      show.bytes(offset);
    }
    return up;
  }

  const form = document.getElementById("upload");
  if (form) {
    const bar = document.getElementById("progress");
    const status = document.getElementById("upload-status");
    const error = document.getElementById("upload-error");
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      error.hidden = true;
      const file = form.elements.file.files[0];
      if (!file) return;
      if (file.size > Number(form.dataset.max)) {
        error.textContent = file.name + ": " + file.size + " > " + form.dataset.max + " bytes";
        error.hidden = false;
        return;
      }
      form.querySelector("button").disabled = true;
      bar.hidden = false;
      const show = {
        status: function (s) { status.textContent = s; },
        bytes: function (n) {
          const pct = file.size ? Math.floor(100 * n / file.size) : 100;
          bar.value = pct;
          status.textContent = word("uploading") + " " + pct + " %";
        },
      };
      try {
        const up = await send(file, form.elements.org.value, show);
        const job = await api("POST", "/publish/api/jobs",
                              {upload: up.id, collection: form.elements.collection.value});
        location.assign(job.links.page);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        form.querySelector("button").disabled = false;
      }
    });
  }

  const job = document.getElementById("job");
  if (job && (job.dataset.status === "queued" || job.dataset.status === "running")) {
    const bar = document.getElementById("job-progress");
    const count = document.getElementById("job-count");
    const poll = async function () {
      try {
        const j = await api("GET", "/publish/api/jobs/" + job.dataset.job);
        if (j.status !== job.dataset.status && j.status !== "running") { location.reload(); return; }
        if (bar && j.total) { bar.max = j.total; bar.value = j.done; }
        if (count) count.textContent = j.done + (j.total ? " / " + j.total : "");
      } catch (e) { /* try again */ }
      setTimeout(poll, 1000);
    };
    setTimeout(poll, 500);
  }
})();
