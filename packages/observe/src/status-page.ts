/**
 * The status page: one self-contained HTML document (inline CSS and script, no external assets, no
 * build step), so it works offline. It polls `/status.json` once a second and redraws.
 */
export function statusPage(title: string): string {
  return PAGE.replace(/__TITLE__/g, escapeHtml(title));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__ status</title>
<style>
:root { --bg:#0f1419; --panel:#171d24; --line:#2a333d; --text:#d9e1e8; --dim:#8a97a3; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --accent:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
header { display:flex; align-items:center; gap:12px; padding:12px 20px; border-bottom:1px solid var(--line); }
header h1 { font-size:18px; margin:0; font-weight:600; }
.badge { padding:2px 10px; border-radius:10px; font-size:12px; font-weight:600; background:var(--line); }
.badge.ok { background:#1a3d24; color:var(--ok); } .badge.bad { background:#4a1d1d; color:var(--bad); }
#updated { margin-left:auto; color:var(--dim); font-size:12px; }
main { padding:16px 20px; display:grid; gap:16px; }
section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 16px; }
h2 { font-size:15px; margin:0 0 10px; font-weight:600; } h2 small { color:var(--dim); font-weight:400; margin-left:8px; }
.chain { display:flex; align-items:stretch; flex-wrap:wrap; gap:0; }
.node { border:1px solid var(--line); border-radius:6px; padding:8px 10px; min-width:130px; background:#1c242d; }
.node .name { font-weight:600; } .node .kind { color:var(--dim); font-size:11px; text-transform:uppercase; letter-spacing:.04em; }
.node.topic { border-color:#30507a; } .node.dlq { border-color:#6e2b2b; }
.node .stats { font:12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; color:var(--dim); margin-top:4px; }
.node .stats b { color:var(--text); font-weight:500; }
.node.failing { border-color:var(--bad); }
.arrow { align-self:center; color:var(--dim); padding:0 6px; font-size:18px; }
.dlqrow { margin-top:8px; display:flex; gap:8px; align-items:center; color:var(--dim); font-size:12px; }
.counts { margin-top:8px; color:var(--dim); font-size:12px; }
table { width:100%; border-collapse:collapse; font-size:13px; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--dim); font-weight:500; } td.num { text-align:right; font-variant-numeric:tabular-nums; }
.cond { font-weight:600; } .cond.stalled,.cond.slow-record,.cond.commit-failing { color:var(--bad); }
.cond.paused,.cond.head-of-line,.cond.revoking { color:var(--warn); } .cond.fetching { color:var(--accent); } .cond.idle { color:var(--ok); }
.empty { color:var(--dim); font-style:italic; }
#error { color:var(--bad); display:none; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <span class="badge" id="live">live ?</span>
  <span class="badge" id="ready">ready ?</span>
  <span id="error">status unavailable</span>
  <span id="updated">connecting…</span>
</header>
<main>
  <div id="services"></div>
  <section><h2>Partitions</h2><table id="partitions"><thead><tr>
    <th>service</th><th>topic</th><th>partition</th><th>lag</th><th>in flight</th><th>uncommitted</th><th>paused</th><th>condition</th><th>since</th><th>reason</th>
  </tr></thead><tbody></tbody></table></section>
  <section><h2>Last dead-lettered records</h2><table id="deadletters"><thead><tr>
    <th>time</th><th>service</th><th>record</th><th>key</th><th>reason</th><th>handler</th><th>error</th><th>to</th>
  </tr></thead><tbody></tbody></table></section>
</main>
<script>
"use strict";
function el(tag, attrs) {
  var node = document.createElement(tag);
  if (attrs) for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, String(attrs[k]));
  for (var i = 2; i < arguments.length; i++) {
    var child = arguments[i];
    if (child === undefined || child === null) continue;
    node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  return node;
}
function fmt(n, digits) { return n === undefined || n === null ? "–" : Number(n).toFixed(digits === undefined ? 0 : digits); }
function ms(n) { return n === undefined || n === null ? "–" : n < 10 ? n.toFixed(2) + " ms" : n.toFixed(0) + " ms"; }
function ago(t, now) { var s = Math.max(0, Math.round((now - t) / 1000)); return s < 60 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s"; }
function arrow() { return el("span", { "class": "arrow" }, "→"); }
function stat(label, value, cls) { return el("span", { "class": cls }, label + " ", el("b", null, value), " "); }
function renderService(svc) {
  var chain = el("div", { "class": "chain", "data-service": svc.name });
  chain.appendChild(el("div", { "class": "node topic" }, el("div", { "class": "kind" }, "source"),
    el("div", { "class": "name" }, svc.sourceTopics.join(", ") || "–"),
    el("div", { "class": "stats" }, stat("rate", fmt(svc.rate, 1) + "/s", "source-rate"), stat("in flight", fmt(svc.inFlight), "inflight"))));
  svc.handlers.forEach(function (h) {
    chain.appendChild(arrow());
    chain.appendChild(el("div", { "class": "node handler" + (h.failureRate > 0 ? " failing" : ""), "data-handler": h.name },
      el("div", { "class": "kind" }, "handler"), el("div", { "class": "name" }, h.name),
      el("div", { "class": "stats" },
        stat("rate", fmt(h.rate, 1) + "/s", "rate"), el("br"),
        stat("mean", ms(h.meanMs), "mean"), stat("p99", ms(h.p99Ms), "p99"), el("br"),
        stat("runs", fmt(h.total), "total"), stat("failures", fmt(h.failures), "failures"))));
  });
  chain.appendChild(arrow());
  chain.appendChild(el("div", { "class": "node topic" }, el("div", { "class": "kind" }, "sink"),
    el("div", { "class": "name" }, svc.outputTopics.length ? svc.outputTopics.join(", ") : "acknowledge")));
  var dlq = el("div", { "class": "dlqrow" }, "failures ↘ ",
    el("div", { "class": "node dlq" }, el("div", { "class": "kind" }, "dead-letter topic"),
      el("div", { "class": "name" }, svc.deadLetterTopics.length ? svc.deadLetterTopics.join(", ") : "–")));
  var outcomes = Object.keys(svc.outcomes).sort().map(function (k) { return k + " " + svc.outcomes[k]; }).join(" · ");
  return el("section", { "class": "service" },
    el("h2", null, svc.name, el("small", null, "group " + (svc.groupId || "–") + " · " + svc.state + " · " + svc.assignedPartitions + " partitions · " + svc.pausedPartitions + " paused")),
    chain, dlq, el("div", { "class": "counts" }, "consumed " + svc.consumed + (outcomes ? " · " + outcomes : "")));
}
function fill(tbody, rows, empty, cols) {
  tbody.replaceChildren();
  if (rows.length === 0) { tbody.appendChild(el("tr", null, el("td", { colspan: cols, "class": "empty" }, empty))); return; }
  rows.forEach(function (r) { tbody.appendChild(r); });
}
function badge(id, name, health) {
  var b = document.getElementById(id);
  b.textContent = name + (health.ok ? " ok" : " failing");
  b.className = "badge " + (health.ok ? "ok" : "bad");
  b.title = health.reasons.join("\\n");
}
function render(s) {
  badge("live", "live", s.live); badge("ready", "ready", s.ready);
  document.getElementById("services").replaceChildren.apply(document.getElementById("services"), s.services.map(renderService));
  fill(document.querySelector("#partitions tbody"), s.partitions.map(function (p) {
    return el("tr", { "data-partition": p.topic + "/" + p.partition },
      el("td", null, p.service), el("td", null, p.topic), el("td", { "class": "num" }, p.partition),
      el("td", { "class": "num lag" }, fmt(p.lag)), el("td", { "class": "num" }, p.inFlight), el("td", { "class": "num" }, fmt(p.uncommitted)),
      el("td", null, p.paused ? "yes" : "no"), el("td", { "class": "cond " + p.condition }, p.condition),
      el("td", null, ago(p.since, s.now)), el("td", null, p.reason + (p.stalls ? " (stalls recovered: " + p.stalls + ")" : "")));
  }), "no partitions assigned", 10);
  fill(document.querySelector("#deadletters tbody"), s.deadLetters.map(function (d) {
    return el("tr", null, el("td", null, new Date(d.at).toLocaleTimeString()), el("td", null, d.service),
      el("td", null, d.topic + "[" + d.partition + "]@" + d.offset), el("td", null, d.key === null ? "–" : d.key),
      el("td", null, d.reason), el("td", null, d.handler || "–"), el("td", null, d.error), el("td", null, d.deadLetterTopic || "–"));
  }), "none yet", 8);
  document.getElementById("updated").textContent = "updated " + new Date(s.now).toLocaleTimeString();
}
function tick() {
  fetch("status.json", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (s) {
    document.getElementById("error").style.display = "none"; render(s);
  }).catch(function () { document.getElementById("error").style.display = "inline"; })
    .finally(function () { setTimeout(tick, 1000); });
}
tick();
</script>
</body>
</html>
`;
