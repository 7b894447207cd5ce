/* Evidence verification page: sends a proof .zip, a file or an evidence id to POST /v1/verify
 * and shows the report. Plain browser JavaScript, no build step, no third-party code.
 * Everything the server says is inserted as text (textContent), never as HTML. */
(function () {
  "use strict";

  var KEY_STORAGE = "vault.verify.apiKey";
  var ENDPOINT = "v1/verify"; // relative to the page (/verify), so a path prefix keeps working

  /* Check names of vault/verify, in plain words. Unknown names are shown as they are. */
  var CHECK_WORDS = {
    bundle_files: "All files of the proof are present",
    evidence_manifest: "Evidence record is readable",
    trust_anchors: "Trust anchors (seal and timestamp CAs)",
    payload_digest: "Content matches its recorded digest",
    timeline: "Dates are consistent (received, batched, then timestamped)",
    batch_manifest: "Batch record is readable",
    path_to_root: "Hash path leads to the batch root",
    evidence_leaf: "Evidence record is in the batch's hash tree",
    seal: "Electronic seal of the batch",
    timestamp: "Timestamp (RFC 3161) of the batch root",
    chain_link: "Batch is linked to the previous batch",
    disclosures: "Disclosed personal data match their commitments",
    vault_batch: "Batch is the one this vault sealed",
    index_record: "Item is recorded as evidence",
    storage_pin: "Stored object is the one pinned by the evidence",
    stored_bytes: "Stored encrypted bytes are unchanged",
    decrypt: "Content can be decrypted",
    content_salt: "Content salt can be decrypted",
    object_version: "Stored object version exists",
    batch_objects: "Batch files in write-once storage are unchanged",
    chain: "Batch follows the previous batch of the chain",
    sealed: "Sealed in a batch",
    destruction_record: "Destruction is recorded and sealed"
  };

  /* The same checks when they fail, as the banner says it. */
  var FAILED_WORDS = {
    bundle_files: "files of the proof are missing",
    evidence_manifest: "the evidence record is unreadable",
    trust_anchors: "the trust anchors could not be loaded",
    payload_digest: "the content does not match its recorded digest",
    timeline: "the dates are inconsistent",
    batch_manifest: "the batch record is unreadable",
    path_to_root: "the hash path does not lead to the batch root",
    evidence_leaf: "the evidence record is not in the batch's hash tree",
    seal: "the electronic seal of the batch is not valid",
    timestamp: "the timestamp is not valid",
    chain_link: "the batch is not linked to the previous batch",
    disclosures: "disclosed personal data do not match their commitments",
    vault_batch: "the batch is not the one this vault sealed",
    index_record: "the item is not recorded as evidence",
    storage_pin: "the stored object is not the one pinned by the evidence",
    stored_bytes: "the stored encrypted bytes were changed",
    decrypt: "the content cannot be decrypted",
    content_salt: "the content salt cannot be decrypted",
    object_version: "the stored object version is missing",
    batch_objects: "the batch files in write-once storage are changed or missing",
    chain: "the batch does not follow the previous batch of the chain",
    sealed: "the item is not sealed in a batch",
    destruction_record: "the destruction record is missing or does not match"
  };

  var STATUS = {
    valid: { word: "VALID", text: "Every check passed: the evidence is intact, sealed and timestamped." },
    invalid: { word: "INVALID", text: "" },
    pending: {
      word: "PENDING",
      text: "Deposited and stored durably, but not sealed and timestamped yet. Check again after the next batch."
    },
    destroyed: {
      word: "DESTROYED",
      text: "The content was destroyed under a retention rule or an erasure; the proof that it existed still verifies."
    },
    not_found: { word: "NOT FOUND", text: "" }
  };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    var name;
    for (name in attrs || {}) {
      if (Object.prototype.hasOwnProperty.call(attrs, name) && attrs[name] !== null && attrs[name] !== undefined) {
        if (name === "text") node.textContent = String(attrs[name]);
        else if (name === "className") node.className = attrs[name];
        else node.setAttribute(name, String(attrs[name]));
      }
    }
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function checkWords(name) {
    return Object.prototype.hasOwnProperty.call(CHECK_WORDS, name) ? CHECK_WORDS[name] : name;
  }

  function formatBytes(n) {
    if (typeof n !== "number" || !isFinite(n)) return "";
    var units = ["bytes", "KB", "MB", "GB", "TB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }

  /* "2025-11-29T14:03:07.123456+00:00" -> { utc: "2025-11-29 14:03:07 UTC", local: "…" } */
  function formatTime(iso) {
    if (!iso) return null;
    var d = new Date(iso);
    if (isNaN(d.getTime())) return { utc: String(iso), local: "" };
    var pad = function (v) {
      return (v < 10 ? "0" : "") + v;
    };
    var utc =
      d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    var local = "";
    try {
      local = d.toLocaleString(undefined, {
        dateStyle: "full",
        timeStyle: "long"
      });
    } catch (e) {
      local = d.toString();
    }
    return { utc: utc, local: local };
  }

  /* "ab12…" -> "AB:12:…", as `openssl x509 -fingerprint -sha256` prints it */
  function formatFingerprint(hex) {
    var clean = String(hex || "").replace(/^sha256:/i, "").replace(/[^0-9a-fA-F]/g, "").toUpperCase();
    if (!clean) return String(hex || "");
    return clean.match(/.{1,2}/g).join(":");
  }

  /* ---------------------------------------------------------------- API key (session only) */

  function loadKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (e) {
      return "";
    }
  }

  function saveKey(value) {
    try {
      if (value) window.sessionStorage.setItem(KEY_STORAGE, value);
      else window.sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) {
      /* storage disabled: the key lives in the field only */
    }
  }

  function authHeaders() {
    var key = $("api-key").value.trim();
    return key ? { Authorization: "Bearer " + key } : {};
  }

  /* ---------------------------------------------------------------- rendering */

  var current = 0; // the latest request; older answers are ignored
  var lastResponse = null;

  function setBusy(busy, what) {
    $("result").setAttribute("aria-busy", busy ? "true" : "false");
    $("verify-id-button").disabled = busy;
    $("file-input").disabled = busy;
    $("drop").classList.toggle("busy", busy);
    if (busy) {
      setBanner("checking", "Checking…", what || "", null);
      $("summary").hidden = true;
      $("matches").hidden = true;
      $("details").hidden = true;
    }
  }

  function revealBanner() {
    var banner = $("banner");
    var box = banner.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      banner.scrollIntoView({ block: "start", behavior: calm ? "auto" : "smooth" });
    }
  }

  function setBanner(status, word, text, extra) {
    var banner = $("banner");
    banner.setAttribute("data-status", status);
    $("banner-word").textContent = word;
    $("banner-text").textContent = text;
    var old = banner.querySelector(".banner-extra");
    if (old) banner.removeChild(old);
    if (extra) banner.appendChild(extra);
  }

  function addSummary(dl, term, value, mono) {
    if (value === null || value === undefined || value === "") return;
    dl.appendChild(el("dt", { text: term }));
    dl.appendChild(el("dd", { text: value, className: mono ? "mono" : null }));
  }

  function renderChecks(checks) {
    var body = $("checks");
    clear(body);
    if (!checks || !checks.length) {
      body.appendChild(el("tr", {}, [el("td", { colspan: 3, className: "empty", text: "No checks were run." })]));
      return;
    }
    checks.forEach(function (c) {
      var ok = c.ok === true;
      var nameCell = el("th", { scope: "row" }, [
        el("span", { className: "check-words", text: checkWords(c.name) }),
        el("code", { className: "check-name", text: c.name })
      ]);
      var resultCell = el("td", { className: "check-result" }, [
        el("span", { className: ok ? "pill ok" : "pill failed", text: ok ? "✓ Passed" : "✗ Failed" })
      ]);
      var detailCell = el("td", { className: "check-detail", text: c.detail || "" });
      body.appendChild(
        el("tr", { "data-check": c.name, "data-ok": ok ? "true" : "false", className: ok ? "ok" : "failed" }, [
          nameCell,
          resultCell,
          detailCell
        ])
      );
    });
  }

  var TIMESTAMP_NOTES = {
    valid: "The timestamp authority certifies that the batch root, and so this evidence, existed at that time.",
    destroyed: "The timestamp proves that the evidence existed at that time; its content was destroyed later.",
    invalid:
      "The timestamp covers the batch root. Since some checks failed, it does not vouch for the content checked here."
  };

  function renderTimestamp(info, status) {
    var box = $("timestamp");
    clear(box);
    var t = formatTime(info && info.timestamp);
    if (!t) {
      box.appendChild(
        el("p", {
          className: "muted",
          text:
            status === "pending"
              ? "Not timestamped yet: the item waits for its batch."
              : "No valid timestamp in this report."
        })
      );
      return;
    }
    var dl = el("dl", { className: "kv" });
    addSummary(dl, "Timestamped at (UTC)", t.utc);
    addSummary(dl, "Your local time", t.local);
    addSummary(dl, "As issued by the TSA", info.timestamp, true);
    box.appendChild(dl);
    box.appendChild(
      el("p", {
        className: "muted small",
        text: TIMESTAMP_NOTES[status] || TIMESTAMP_NOTES.invalid
      })
    );
  }

  var CERT_ROLES = {
    seal: "Sealing certificate",
    "seal-ca": "Certification authority of the seal",
    tsa: "Timestamp authority certificate",
    "tsa-ca": "Certification authority of the TSA"
  };

  /* end-entity certificates first, then their CAs, as a person reads a chain */
  function byRole(certs) {
    return certs
      .map(function (c, i) {
        return { c: c, i: i, ca: /-ca$/.test(String(c.role || "")) ? 1 : 0 };
      })
      .sort(function (a, b) {
        return a.ca - b.ca || a.i - b.i;
      })
      .map(function (x) {
        return x.c;
      });
  }

  function certList(title, certs, note) {
    var group = el("div", { className: "cert-group" });
    group.appendChild(el("h4", { text: title }));
    if (note) group.appendChild(el("p", { className: "muted small", text: note }));
    if (!certs || !certs.length) {
      group.appendChild(el("p", { className: "muted", text: "None in this report." }));
      return group;
    }
    byRole(certs).forEach(function (c) {
      var dl = el("dl", { className: "kv cert" });
      if (c.role) addSummary(dl, "Role", CERT_ROLES[c.role] || c.role);
      addSummary(dl, "Subject", c.subject);
      if (c.issuer) addSummary(dl, "Issuer", c.issuer);
      addSummary(dl, "SHA-256 fingerprint", formatFingerprint(c.sha256), true);
      var until = formatTime(c.not_after);
      if (until) addSummary(dl, "Valid until", until.utc);
      group.appendChild(dl);
    });
    return group;
  }

  function renderCertificates(certs, info) {
    var box = $("certificates");
    clear(box);
    certs = certs || {};
    var fromFolder = info && info.anchors === "folder";
    if (fromFolder) {
      box.appendChild(
        el("p", {
          className: "notice",
          text:
            "These certificates came with the proof itself. Compare their fingerprints with the ones the " +
            "provider publishes: a forged proof can carry forged certificates."
        })
      );
    }
    if (!(certs.seal && certs.seal.length) && !(certs.tsa && certs.tsa.length)) {
      box.appendChild(el("p", { className: "muted", text: "No certificates in this report." }));
      return;
    }
    box.appendChild(certList("Electronic seal", certs.seal));
    box.appendChild(certList("Timestamp authority (TSA)", certs.tsa));
  }

  function failedNames(checks) {
    return (checks || [])
      .filter(function (c) {
        return c.ok !== true;
      })
      .map(function (c) {
        return Object.prototype.hasOwnProperty.call(FAILED_WORDS, c.name)
          ? FAILED_WORDS[c.name]
          : c.name + " failed";
      });
  }

  function renderReport(report, context) {
    var status = String(report.status || (report.valid ? "valid" : "invalid"));
    var known = STATUS[status] || { word: status.replace(/_/g, " ").toUpperCase(), text: "" };
    var text = known.text;
    var checks = report.checks || [];
    if (status === "invalid") {
      var failed = failedNames(checks);
      text = failed.length
        ? failed.length + " of " + checks.length + " checks failed: " + failed.join("; ") + "."
        : "The evidence could not be verified.";
    } else if (status === "valid" && report.info && report.info.timestamp) {
      var when = formatTime(report.info.timestamp);
      text += " Timestamped " + when.utc + ".";
    } else if (status === "not_found") {
      text = context.sha256
        ? "No evidence in this vault has exactly this content (an erased item can no longer be confirmed from its content)."
        : "No evidence with this id in this vault (or not visible with this key).";
    } else if (status === "destroyed" && report.rule) {
      text += " Rule: " + report.rule + ".";
    }
    setBanner(status, known.word, text, null);

    var info = report.info || {};
    var dl = $("summary");
    clear(dl);
    addSummary(dl, "Evidence id", report.item, true);
    if (context.fileName) addSummary(dl, "File", context.fileName + " (" + formatBytes(context.fileSize) + ")");
    addSummary(dl, "File SHA-256", context.sha256, true);
    if (info.batch && info.batch.seq !== undefined && info.batch.seq !== null) addSummary(dl, "Batch", "#" + info.batch.seq);
    if (info.batch) addSummary(dl, "Batch root", info.batch.root, true);
    if (info.disposal && info.disposal.at) addSummary(dl, "Destroyed at", (formatTime(info.disposal.at) || {}).utc);
    dl.hidden = !dl.firstChild;

    var found = status !== "not_found" || checks.length;
    $("details").hidden = !found;
    renderChecks(checks);
    renderTimestamp(info, status);
    renderCertificates(report.certificates, info);
  }

  function renderMatches(data, shown) {
    var box = $("matches");
    var list = $("match-list");
    clear(list);
    var items = data.items || [];
    box.hidden = items.length < 2;
    if (items.length < 2) return;
    $("matches-text").textContent =
      "This file is the content of " + items.length + " evidence items. Choose one to see its checks:";
    items.forEach(function (rep, i) {
      var word = (STATUS[rep.status] || { word: String(rep.status).toUpperCase() }).word;
      var button = el("button", {
        type: "button",
        className: "link",
        "aria-current": i === shown ? "true" : null,
        text: (rep.item || "item " + (i + 1)) + " — " + word
      });
      button.addEventListener("click", function () {
        showFileResult(data, i);
      });
      list.appendChild(el("li", {}, [button]));
    });
  }

  function showFileResult(data, index) {
    var items = data.items || [];
    var report = index > 0 && items[index] ? items[index] : data;
    if (index > 0 && !report.certificates) report.certificates = data.certificates;
    renderReport(report, lastResponse.context);
    renderMatches(data, index);
  }

  function problemBanner(problem, httpStatus) {
    var title = problem.title || "Request failed";
    var detail = problem.detail;
    if (Array.isArray(detail)) {
      // FastAPI's own validation errors: [{loc, msg, type}]
      detail = detail
        .map(function (d) {
          return (d.loc ? d.loc.join(".") + ": " : "") + (d.msg || JSON.stringify(d));
        })
        .join("; ");
    } else if (detail && typeof detail === "object") {
      detail = JSON.stringify(detail);
    }
    if (!problem.title && typeof problem.detail === "string") {
      title = problem.detail;
      detail = "";
    }
    if (detail === title) detail = "";
    var extra = el("p", { className: "banner-extra" });
    extra.textContent = httpStatus ? "HTTP " + httpStatus : "No answer";
    if (httpStatus === 401 || httpStatus === 403) {
      extra.textContent += " · Enter an auditor API key above and try again.";
    }
    setBanner("error", title, detail || "", extra);
    $("summary").hidden = true;
    $("matches").hidden = true;
    $("details").hidden = true;
  }

  /* ---------------------------------------------------------------- requests */

  function send(init, context, what) {
    var mine = ++current;
    setBusy(true, what);
    var headers = authHeaders();
    var h;
    init.headers = init.headers || {};
    for (h in headers) if (Object.prototype.hasOwnProperty.call(headers, h)) init.headers[h] = headers[h];
    init.method = "POST";
    init.credentials = "same-origin";
    init.headers.Accept = "application/json, application/problem+json";
    return fetch(ENDPOINT, init)
      .then(function (response) {
        return response.text().then(function (body) {
          var data = null;
          try {
            data = body ? JSON.parse(body) : null;
          } catch (e) {
            data = null;
          }
          return { response: response, data: data, body: body };
        });
      })
      .then(function (r) {
        if (mine !== current) return;
        setBusy(false);
        if (!r.response.ok || !r.data || typeof r.data !== "object") {
          var problem = r.data && typeof r.data === "object" ? r.data : {};
          if (!problem.title && !problem.detail) {
            problem = {
              title: r.response.ok ? "Unexpected answer from the vault" : r.response.statusText || "Request failed",
              detail: (r.body || "").slice(0, 300)
            };
          }
          problemBanner(problem, r.response.status);
          revealBanner();
          return;
        }
        lastResponse = { data: r.data, context: context };
        context.sha256 = r.data.sha256 || context.sha256;
        if (Array.isArray(r.data.items)) showFileResult(r.data, 0);
        else renderReport(r.data, context);
        revealBanner();
      })
      .catch(function (err) {
        if (mine !== current) return;
        setBusy(false);
        problemBanner({ title: "Could not reach the vault", detail: String((err && err.message) || err) }, 0);
      });
  }

  function verifyFile(file) {
    if (!file) return;
    var isZip = /\.zip$/i.test(file.name || "");
    var form = new FormData();
    form.append(isZip ? "bundle" : "file", file, file.name);
    var name = $("file-name");
    name.hidden = false;
    name.textContent = (isZip ? "Proof: " : "File: ") + file.name + " (" + formatBytes(file.size) + ")";
    send(
      { body: form },
      { fileName: file.name, fileSize: file.size, kind: isZip ? "bundle" : "file" },
      isZip ? "Checking the proof " + file.name + "…" : "Looking up " + file.name + " by its digest…"
    );
  }

  function verifyId(id) {
    send(
      { body: JSON.stringify({ evidence_id: id }), headers: { "Content-Type": "application/json" } },
      { kind: "id" },
      "Verifying " + id + "…"
    );
  }

  /* ---------------------------------------------------------------- wiring */

  function init() {
    var keyInput = $("api-key");
    keyInput.value = loadKey();
    keyInput.addEventListener("input", function () {
      saveKey(keyInput.value.trim());
    });
    $("forget-key").addEventListener("click", function () {
      keyInput.value = "";
      saveKey("");
      keyInput.focus();
    });

    var input = $("file-input");
    input.addEventListener("change", function () {
      if (input.files && input.files.length) verifyFile(input.files[0]);
      input.value = ""; // choosing the same file again verifies again
    });

    var drop = $("drop");
    var depth = 0;
    drop.addEventListener("dragenter", function (e) {
      e.preventDefault();
      depth += 1;
      drop.classList.add("dragover");
    });
    drop.addEventListener("dragover", function (e) {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    });
    drop.addEventListener("dragleave", function () {
      depth = Math.max(0, depth - 1);
      if (!depth) drop.classList.remove("dragover");
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      depth = 0;
      drop.classList.remove("dragover");
      var files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) verifyFile(files[0]);
    });
    // a file dropped next to the zone must not replace the page
    ["dragover", "drop"].forEach(function (type) {
      window.addEventListener(type, function (e) {
        if (!drop.contains(e.target)) e.preventDefault();
      });
    });

    $("file-form").addEventListener("submit", function (e) {
      e.preventDefault();
    });
    $("id-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var field = $("evidence-id");
      var id = field.value.trim();
      if (!id) {
        field.setAttribute("aria-invalid", "true");
        setBanner("error", "Evidence id missing", "Type an evidence id such as ev_… and press Verify.", null);
        field.focus();
        return;
      }
      field.removeAttribute("aria-invalid");
      verifyId(id);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
