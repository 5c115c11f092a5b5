// Orleans.Escrow dashboard: plain JS, no dependencies. Polls /dashboard/api/* with the key kept in sessionStorage.
"use strict";
(function () {
  const KEY = "escrow.dashboard.key";
  const $ = (id) => document.getElementById(id);
  let timer = null, tick = 0, busy = {};

  // ---- HTTP ----------------------------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, problem) { super((problem && (problem.detail || problem.title)) || ("HTTP " + status)); this.status = status; this.problem = problem; }
  }
  async function api(path, tenant, method) {
    const key = sessionStorage.getItem(KEY);
    const headers = { "X-Api-Key": key || "", "Accept": "application/json" };
    if (tenant) headers["X-Escrow-Tenant"] = tenant;   // root names the institution whose ids a request uses
    const r = await fetch(path, { method: method || "GET", headers: headers, cache: "no-store" });
    const text = await r.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }

  // ---- DOM helpers (text only: nothing from the server is parsed as HTML) ----------------------------------------
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function fill(tableId, rows, cells) {
    const body = $(tableId).tBodies[0];
    body.replaceChildren(...rows.map((row) => {
      const tr = el("tr");
      for (const c of cells(row)) {
        const td = (c instanceof Node) ? wrapTd(c) : el("td", c);
        if (typeof c === "number") td.className = "num";
        tr.appendChild(td);
      }
      return tr;
    }));
    if (rows.length === 0) {
      const tr = el("tr"), td = el("td", "none", "note");
      td.colSpan = $(tableId).tHead.rows[0].cells.length;
      tr.appendChild(td); body.appendChild(tr);
    }
  }
  function wrapTd(node) { const td = el("td"); td.appendChild(node); return td; }
  function code(text) { return el("code", text); }
  const fmt = (n, d) => (n === null || n === undefined) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d === undefined ? 2 : d });
  const time = (iso) => iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "–";
  const short = (s, n) => (s && s.length > n) ? s.slice(0, n) + "…" : (s || "");

  // ---- charts (canvas, drawn by hand) ----------------------------------------------------------------------------
  function chart(canvas, times, series, unit) {
    const dpr = window.devicePixelRatio || 1, w = canvas.clientWidth || 420, h = canvas.clientHeight || 160;
    if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 44, right = 8, top = 16, bottom = 18, pw = w - left - right, ph = h - top - bottom;
    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    max = niceMax(max);
    g.font = "10px system-ui, sans-serif"; g.fillStyle = "#6b7385"; g.strokeStyle = "#e6e9f0"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - ph * i / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
      g.fillText(fmt(max * i / 4, max < 4 ? 2 : 0), 2, y + 3);
    }
    const n = times.length;
    for (let i = 0; i < n; i += 60) {   // a label per minute, counted back from now
      const x = left + pw * (n - 1 - i) / Math.max(1, n - 1);
      g.fillText(i === 0 ? "now" : "-" + (i / 60) + "m", x - 10, h - 4);
    }
    let lx = left + 4;
    for (const s of series) {
      g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null) { pen = false; return; }
        const x = left + pw * i / Math.max(1, n - 1), y = top + ph - ph * v / max;
        if (pen) g.lineTo(x, y); else { g.moveTo(x, y); pen = true; }
      });
      g.stroke();
      g.fillStyle = s.color; g.fillText(s.name + (unit ? " (" + unit + ")" : ""), lx, 11); lx += g.measureText(s.name).width + (unit ? 40 : 16);
    }
  }
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // ---- sections ---------------------------------------------------------------------------------------------------
  async function overview() {
    const o = await api("/dashboard/api/overview?seconds=300");
    $("cluster-cmd-rate").textContent = fmt(o.cluster.commandsPerSecond, 1);
    $("cluster-cmd-total").textContent = fmt(o.cluster.commands, 0);
    $("cmd-rate").textContent = fmt(o.recent.commandsPerSecond, 1);
    $("rej-rate").textContent = fmt(o.recent.rejectionsPerSecond, 1);
    $("evt-rate").textContent = fmt(o.recent.eventsPerSecond, 1);
    $("latency").textContent = o.recent.p50 === null ? "–" : fmt(o.recent.p50, 1) + " / " + fmt(o.recent.p99, 1) + " ms";
    $("cmd-total").textContent = fmt(o.totals.commands, 0);
    $("evt-total").textContent = fmt(o.totals.events, 0);
    const times = o.series.map((p) => p.at);
    chart($("chart-commands"), times, [
      { name: "commands", color: "#2f6fde", values: o.series.map((p) => p.commands) },
      { name: "rejections", color: "#c8372d", values: o.series.map((p) => p.rejections) }]);
    chart($("chart-latency"), times, [
      { name: "p50", color: "#2f6fde", values: o.series.map((p) => p.p50) },
      { name: "p99", color: "#d08a1e", values: o.series.map((p) => p.p99) }], "ms");
    chart($("chart-events"), times, [{ name: "events", color: "#1f8a4c", values: o.series.map((p) => p.events) }]);
  }

  async function projections() {
    const list = await api("/dashboard/api/projections");
    fill("projections", list, (p) => [p.name, p.transactionId + " / " + p.position, p.eventsApplied, p.eventsBehind, fmt(p.lagMilliseconds, 1),
      p.pulledBy === null ? "–" : p.pulledBy, fmt(p.progress * 100, 1) + " %", p.deadLetters]);
  }

  async function timers() {
    const t = await api("/dashboard/api/timers?limit=10");
    $("timers-due").textContent = t.due;
    $("timers-pending").textContent = t.pending;
    fill("timers", t.next, (r) => [r.tenant, r.dealId, time(r.firstTick), (r.periodMilliseconds / 1000) + " s"]);
  }

  async function rejections() {
    const r = await api("/dashboard/api/rejections?minutes=60");
    fill("rejections", r.byCode, (c) => [c.code, c.outcome, c.status, c.count, time(c.last)]);
  }

  async function audit() {
    const rows = await api("/dashboard/api/audit?limit=20");
    fill("audit", rows, (a) => [a.position, time(a.at), a.actor, a.tenant, a.operation, a.outcome, a.status, a.code || "", a.streamIds.join(" ")]);
  }

  // Each section polls on its own cadence (in seconds) and never overlaps itself.
  const sections = [[overview, 1], [projections, 2], [timers, 3], [rejections, 3], [audit, 2]];
  async function poll() {
    tick++;
    for (const [f, every] of sections) {
      if ((tick - 1) % every !== 0 || busy[f.name]) continue;
      busy[f.name] = true;
      f().then(() => { $("status").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC"; })
        .catch(onError).finally(() => { busy[f.name] = false; });
    }
  }
  function onError(e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) { logout(e.message); return; }
    $("status").textContent = "error: " + e.message;
  }

  // ---- stream browser ---------------------------------------------------------------------------------------------
  async function browse(ev) {
    ev.preventDefault();
    const kind = $("stream-kind").value, id = $("stream-id").value.trim(), atLocal = $("stream-at").value;
    const at = atLocal ? new Date(atLocal + (atLocal.length === 16 ? ":00" : "") + "Z").toISOString() : null;
    $("stream-error").textContent = "";
    $("stream-result").hidden = true;
    try {
      const found = await api("/dashboard/api/streams?kind=" + encodeURIComponent(kind) + "&id=" + encodeURIComponent(id));
      if (found.length === 0) { $("stream-error").textContent = "no " + kind + " '" + id + "' that this key may read"; return; }
      const sid = found[0], enc = encodeURIComponent(sid);
      const head = await api("/dashboard/api/streams/" + enc);
      const [events, now, chain] = await Promise.all([
        api("/dashboard/api/streams/" + enc + "/events?limit=500"),
        api("/dashboard/api/streams/" + enc + "/state"),
        api("/dashboard/api/streams/" + enc + "/verify")]);
      $("stream-head").textContent = head.streamId + " · " + head.streamType + " · tenant " + head.tenant + " · version " + head.version +
        " · created " + time(head.createdAt) + " · last hash " + short(head.lastHash, 16) +
        (found.length > 1 ? " · also: " + found.slice(1).join(", ") : "");
      const c = $("stream-chain");
      c.replaceChildren(el("span", chain.ok ? "hash chain intact" : "hash chain BROKEN", chain.ok ? "ok" : "bad"),
        el("span", chain.ok ? " (" + chain.eventsChecked + " events recomputed)"
          : " at version " + chain.brokenVersion + " (position " + chain.brokenGlobalPosition + "): " + chain.reason));
      $("state-now").textContent = JSON.stringify(now.state, null, 2);
      if (at) {
        const past = await api("/dashboard/api/streams/" + enc + "/state?at=" + encodeURIComponent(at));
        let text = "version " + past.version + "\n" + JSON.stringify(past.state, null, 2);
        if (head.streamType === "account") {   // the ledger's own as-of query (statement index or replay)
          try {
            // account-{institution}/{id}: the id within the stream's institution
            const accountId = sid.slice(sid.indexOf("/") + 1);
            const b = await api("/accounts/" + encodeURIComponent(accountId) + "/balance?at=" + encodeURIComponent(at), head.tenant);
            text = "balance " + b.balance + " " + b.currency + " (GET /accounts/{id}/balance?at=, from " + b.source + ")\n" + text;
          } catch (e) { text = "balance: " + e.message + "\n" + text; }
        }
        $("state-at-caption").textContent = "state as of " + at;
        $("state-at").textContent = text;
      } else {
        $("state-at-caption").textContent = "state as of (choose an instant)";
        $("state-at").textContent = "";
      }
      fill("stream-events", events, (e) => [e.version, e.globalPosition, e.eventType, time(e.occurredAt),
        code(JSON.stringify(e.data)), code(JSON.stringify(e.metadata)), code(short(e.hash, 16))]);
      $("stream-result").hidden = false;
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) { logout(e.message); return; }
      $("stream-error").textContent = e.message;
    }
  }

  // ---- login ------------------------------------------------------------------------------------------------------
  async function start() {
    try {
      // Checks the key and sets the login cookie that the Orleans Dashboard (linked above) is opened with.
      const me = await api("/dashboard/api/session", null, "POST");
      $("who").textContent = me.role + " key " + me.keyId + " · " + me.institution;
      $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false; $("orleans-link").hidden = false;
      tick = 0; poll();
      if (timer) clearInterval(timer);
      timer = setInterval(poll, 1000);
    } catch (e) {
      logout(e instanceof ApiError && e.status === 403 ? "this key may not read the dashboard (it needs a root or auditor key)"
        : e instanceof ApiError && e.status === 401 ? "unknown API key" : e.message);
    }
  }
  function logout(message) {
    if (sessionStorage.getItem(KEY)) api("/dashboard/api/session", null, "DELETE").catch(() => {});
    sessionStorage.removeItem(KEY);
    if (timer) { clearInterval(timer); timer = null; }
    $("app").hidden = true; $("login").hidden = false; $("logout").hidden = true; $("orleans-link").hidden = true; $("who").textContent = "";
    $("login-error").textContent = message || "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      start();
    });
    $("logout").addEventListener("click", () => logout(""));
    $("stream-form").addEventListener("submit", browse);
    if (sessionStorage.getItem(KEY)) start();
  });
})();
