// Renders the status pushed over Server-Sent Events (/api/events).
// Everything that comes from feeds or rules is inserted as text (textContent), never as HTML.
"use strict";

const LABELS = {
  "articles.published": "published by pollers",
  "articles.processed": "processed by workers",
  "articles.matched": "matched",
  "articles.duplicate": "duplicates dropped",
  "deadletter": "dead-lettered",
};
const FEED_RANK = { failing: 0, gone: 1, silent: 2, new: 3, not_modified: 4, ok: 5 };
const sorting = {
  "feeds-table": { key: "status", dir: 1 },
  "rules-table": { key: "hits", dir: -1 },
};
let last = null;        // the newest status
let clockSkew = 0;      // browser clock minus server clock, in seconds
const seenAlerts = new Set();
const TITLE = document.title;
let unseen = 0;          // alerts that arrived while the tab was hidden, shown in the tab title
let firstRender = true;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function safeHref(url) { return /^https?:\/\//i.test(String(url || "")) ? String(url) : null; }
function now() { return Date.now() / 1000 - clockSkew; }
function duration(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  s = Math.abs(s);
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} d`;
}
function ago(ts) { return ts ? `${duration(now() - ts)} ago` : "never"; }
function until(ts) {
  if (!ts) return "–";
  const d = ts - now();
  return d <= 0 ? "due" : `in ${duration(d)}`;
}
function label(name) {
  if (name.startsWith("alerts.")) return `alerts: ${name.slice(7)}`;
  return LABELS[name] || name;
}
function statusText(status) { return String(status || "new").replace("_", " "); }

function renderHealth(s) {
  const health = document.getElementById("health");
  const problems = document.getElementById("problems");
  const messages = s.redis && !s.redis.ok ? [s.redis.error] : (s.problems || []);
  problems.replaceChildren(...messages.map(m => el("p", m)));
  problems.hidden = messages.length === 0;
  if (!s.redis || !s.redis.ok) {
    health.textContent = "Redis unreachable";
    health.className = "pill bad";
  } else {
    health.textContent = s.ok ? "healthy" : "no live worker";
    health.className = "pill " + (s.ok ? "ok" : "bad");
  }
  document.getElementById("updated").textContent =
    `updated ${new Date(s.at * 1000).toLocaleTimeString()}`;
}

function chip(text, cls, title) {
  const c = el("span", text, "chip " + (cls || ""));
  if (title) c.title = title;
  return c;
}

function renderPipeline(s) {
  const p = s.pipeline || {};
  const broker = s.broker || {};
  document.getElementById("services").replaceChildren(
    chip("Redis reachable", "ok"),
    broker.ok === null || broker.ok === undefined
      ? chip("broker: unknown here", "", broker.error)
      : chip(broker.ok ? "broker reachable" : "broker unreachable", broker.ok ? "ok" : "bad",
             broker.error || broker.address),
    chip(`Kafka lag ≈ ${p.lag ?? "–"}`, p.lag > 100 ? "warn" : "",
         "articles published by pollers and not yet processed by workers (counter difference)"),
    chip(`unpublished backlog ${p.backlog ?? "–"}`, p.backlog > 0 ? "warn" : "",
         "articles fetched by pollers and not yet delivered to Kafka"),
  );
  if (p.worker_lag !== null && p.worker_lag !== undefined) {
    document.getElementById("services").append(chip(`consumer lag ${p.worker_lag}`,
      p.worker_lag > 100 ? "warn" : "", "records behind the log end, as the workers report it"));
  }
  const counters = Object.entries(s.counters || {}).sort(([a], [b]) => a.localeCompare(b));
  document.getElementById("counters").replaceChildren(...counters.map(([k, v]) => {
    const d = el("div", label(k));
    d.prepend(el("b", v.toLocaleString()));
    return d;
  }));
  document.getElementById("parts").replaceChildren(...(s.heartbeats || []).map(b => {
    const tr = el("tr", undefined, b.stale ? "stale" : "");
    const details = Object.entries(b)
      .filter(([k]) => !["role", "id", "at", "age", "stale"].includes(k))
      .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
    tr.append(el("td", `${b.role} ${b.id}`),
      el("td", b.stale ? `STALE · ${duration(b.age)} ago` : `${duration(b.age)} ago`),
      el("td", details));
    return tr;
  }));
}

function renderFlow(s) {
  const flow = s.flow || { series: {}, per_minute: {} };
  const names = Object.keys(flow.series || {}).sort((a, b) =>
    (a.startsWith("alerts.") - b.startsWith("alerts.")) || a.localeCompare(b));
  const span = (flow.series && names.length) ? flow.series[names[0]].length * flow.step : 0;
  document.getElementById("flow-note").textContent = span
    ? `last ${duration(span)}, one bar per ${duration(flow.step)}; rate is per minute over the last 5 min`
    : "no data yet";
  document.getElementById("charts").replaceChildren(...names.map(name => {
    const fig = el("figure", undefined, "chart-box");
    fig.dataset.series = name;
    const cap = el("figcaption");
    cap.append(el("span", label(name)), el("b", `${flow.per_minute[name] ?? 0}/min`));
    fig.append(cap, window.barChart(flow.series[name], flow.start, flow.step, label(name)));
    return fig;
  }));
}

function latencyChip(name, stat) {
  if (!stat || !stat.count) return chip(`${name}: no data`);
  return chip(`${name}: median ${duration(stat.median)} · p95 ${duration(stat.p95)}`, "",
    `over the last ${stat.count} alerts`);
}

function renderAlerts(s) {
  const lat = s.latency || {};
  document.getElementById("latency").replaceChildren(
    latencyChip("fetch → alert", lat.fetched), latencyChip("publication → alert", lat.published));
  const items = (s.alerts || []).map(a => {
    const d = a.data || {};
    const li = el("li", undefined, "alert");
    li.dataset.id = a.id;
    if (!firstRender && !seenAlerts.has(a.id)) li.classList.add("fresh");
    seenAlerts.add(a.id);
    const head = el("div", undefined, "alert-head");
    head.append(el("span", d.category, "tag cat-" + String(d.category).replace(/[^a-z0-9-]/g, "")),
      el("span", d.kind, "tag kind"));
    const href = safeHref(d.link);
    const title = el(href ? "a" : "span", d.headline, "headline");
    if (href) { title.href = href; title.rel = "noopener noreferrer"; title.target = "_blank"; }
    head.append(title);
    const stamps = d.timestamps || {};
    const emitted = Date.parse(stamps.emitted) / 1000;
    const fetched = Date.parse(stamps.fetched) / 1000;
    const sources = (d.sources || []).length;
    li.append(head, el("div", [
      (d.source || {}).name, `${sources} source${sources === 1 ? "" : "s"}`,
      `rules ${(d.rules || []).join(", ")}`, `score ${Number(d.score || 0).toFixed(2)}`,
      `alerted ${ago(emitted)}`, `fetch → alert ${duration(emitted - fetched)}`,
    ].join(" · "), "meta"));
    const why = el("ul", undefined, "evidence");
    for (const e of d.evidence || []) {
      why.append(el("li", `${e.group}: “${e.text}” ≈ ${e.term} in ${e.field} (${Number(e.score).toFixed(2)})`));
    }
    li.append(why);
    return li;
  });
  const arrived = items.filter(li => li.classList.contains("fresh")).length;
  if (arrived && document.hidden) unseen += arrived;
  document.title = (unseen ? `(${unseen}) ` : "") + TITLE;
  const list = document.getElementById("alerts");
  list.replaceChildren(...(items.length ? items : [el("li", "no alerts yet", "muted")]));
  firstRender = false;
}

function compare(a, b, key) {
  let x = a[key], y = b[key];
  if (key === "status") { x = FEED_RANK[x] ?? 9; y = FEED_RANK[y] ?? 9; }
  if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1;
  if (y === null || y === undefined) return -1;
  return typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
}
function sorted(rows, tableId) {
  const { key, dir } = sorting[tableId];
  return [...rows].sort((a, b) => {
    const c = compare(a, b, key);
    // missing values stay last whichever way the column is sorted
    const missing = (a[key] === null || a[key] === undefined) !== (b[key] === null || b[key] === undefined);
    return missing ? c : c * dir || String(a.name || a.id).localeCompare(String(b.name || b.id));
  });
}
function markSorted(tableId) {
  const { key, dir } = sorting[tableId];
  for (const th of document.querySelectorAll(`#${tableId} th[data-key]`)) {
    th.setAttribute("aria-sort", th.dataset.key === key ? (dir > 0 ? "ascending" : "descending") : "none");
  }
}

function errorCell(f) {
  const td = el("td", f.last_error || "", "error");
  if (f.note && f.note !== f.last_error) td.append(el("div", f.note, "muted"));
  return td;
}

function renderFeeds(s) {
  const feeds = s.feeds || [];
  const counts = {};
  for (const f of feeds) counts[f.status] = (counts[f.status] || 0) + 1;
  document.getElementById("feed-summary").textContent = Object.entries(counts)
    .sort(([a], [b]) => (FEED_RANK[a] ?? 9) - (FEED_RANK[b] ?? 9))
    .map(([k, n]) => `${n} ${statusText(k)}`).join(" · ");
  document.getElementById("feeds").replaceChildren(...sorted(feeds, "feeds-table").map(f => {
    const tr = el("tr", undefined, "feed st-" + f.status);
    const name = el("td");
    const href = safeHref(f.url);
    const link = el(href ? "a" : "span", f.name);
    if (href) { link.href = href; link.rel = "noopener noreferrer"; link.title = f.url; }
    name.append(link);
    const cadence = f.cadence ?? f.interval;
    tr.append(name,
      el("td", statusText(f.status) + (f.failures ? ` (${f.failures}×)` : ""), "status " + f.status),
      el("td", ago(f.last_success)),
      errorCell(f),
      el("td", until(f.next_poll), "opt"),
      el("td", f.new_items ?? "–", "num"),
      el("td", f.total_items ?? "–", "num opt"),
      el("td", cadence ? `every ${duration(cadence)}${f.cadence ? "" : " (set)"}` : "–", "opt"));
    return tr;
  }));
  markSorted("feeds-table");
}

function renderRules(s) {
  const rules = s.rules || [];
  document.getElementById("rules").replaceChildren(...(rules.length ? sorted(rules, "rules-table").map(r => {
    const tr = el("tr", undefined, r.active === false ? "inactive" : "");
    const name = el("td");
    name.append(el("b", r.id));
    if (r.title) name.append(el("div", r.title, "muted"));
    if (r.active === false) name.append(el("div", "no longer active", "muted"));
    tr.append(name, el("td", r.category ?? "–"), el("td", r.hits ?? 0, "num"), el("td", ago(r.last_hit)));
    return tr;
  }) : [el("tr", "no rules published yet", "muted")]));
  markSorted("rules-table");
}

function render(s) {
  last = s;
  clockSkew = Date.now() / 1000 - s.at;
  renderHealth(s);
  if (!s.redis || !s.redis.ok) return;   // keep the last known data, greyed by the banner
  renderPipeline(s);
  renderFlow(s);
  renderAlerts(s);
  renderFeeds(s);
  renderRules(s);
  document.body.dataset.rendered = String((Number(document.body.dataset.rendered) || 0) + 1);
}

function setupSorting() {
  for (const tableId of Object.keys(sorting)) {
    for (const th of document.querySelectorAll(`#${tableId} th[data-key]`)) {
      th.tabIndex = 0;
      const sortBy = () => {
        const state = sorting[tableId];
        state.dir = state.key === th.dataset.key ? -state.dir : 1;
        state.key = th.dataset.key;
        if (last) render(last);
      };
      th.addEventListener("click", sortBy);
      th.addEventListener("keydown", e => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(); } });
    }
  }
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("status", e => {
    document.body.classList.remove("offline");
    render(JSON.parse(e.data));
  });
  events.addEventListener("error", () => {
    document.body.classList.add("offline");
    const health = document.getElementById("health");
    health.textContent = "status server unreachable, retrying…";
    health.className = "pill bad";
  });
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) { unseen = 0; document.title = TITLE; }
});
setupSorting();
connect();
