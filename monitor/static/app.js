// Renders /api/status. Everything from feeds is inserted as text, never as HTML.
"use strict";
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function when(ts) { return ts ? new Date(ts * 1000).toLocaleTimeString() : "–"; }
function render(s) {
  const health = document.getElementById("health");
  if (!s.redis || !s.redis.ok) {
    health.textContent = s.redis ? s.redis.error : "status unavailable";
    health.className = "pill bad";
    return;
  }
  health.textContent = s.ok ? "healthy" : "no live worker";
  health.className = "pill " + (s.ok ? "ok" : "bad");
  const counters = document.getElementById("counters");
  counters.replaceChildren(...Object.entries(s.counters).sort().map(([k, v]) => {
    const d = el("div", k); d.prepend(el("b", v)); return d;
  }));
  document.getElementById("parts").replaceChildren(...s.heartbeats.map(b =>
    el("li", `${b.role} ${b.id}: last beat ${b.age}s ago`, b.stale ? "stale" : "")));
  document.getElementById("alerts").replaceChildren(...s.alerts.map(a => {
    const d = a.data, li = el("li");
    li.append(el("span", `${d.category} ${d.kind}`, "cat"));
    const link = el("a", d.headline); link.href = /^https?:/.test(d.link) ? d.link : "#";
    link.rel = "noopener noreferrer";
    li.append(link, el("div", `${d.source.name} · ${d.sources.length} source(s)`, "why"),
      el("div", "why: " + d.evidence.slice(0, 3).map(e => `${e.group} “${e.text}”`).join("; "), "why"));
    return li;
  }));
  document.getElementById("feeds").replaceChildren(...s.feeds.map(f => {
    const tr = el("tr");
    tr.append(el("td", f.name), el("td", f.status, f.status), el("td", f.new_items),
      el("td", f.total_items), el("td", when(f.last_success)), el("td", f.last_error || ""));
    return tr;
  }));
  document.getElementById("rules").replaceChildren(...Object.entries(s.rules).map(([r, n]) =>
    el("li", `${r}: ${n} alert(s)`)));
}
async function refresh() {
  try { render(await (await fetch("/api/status")).json()); }
  catch (e) { const h = document.getElementById("health"); h.textContent = "status page server unreachable"; h.className = "pill bad"; }
}
refresh(); setInterval(refresh, 2000);
