// app.js: the ordo dashboard. Client-side routes under /app over the JSON
// API (api.js); pages are built with DOM calls (fmt.js), never HTML text,
// so nothing an order carries can run as script. Charts are SVG (charts.js).
import * as api from "./api.js";
import { barChart } from "./charts.js";
import { badge, duration, h, money, percent, table, when } from "./fmt.js";

const main = document.getElementById("main");
let me = null;          // the session: {merchant, name, currency, csrf_token}

// --------------------------------------------------------------------------
// Routing

const routes = [
  [/^\/app\/?$/, pipelinePage],
  [/^\/$/, pipelinePage],
  [/^\/app\/orders\/([^/]+)$/, orderPage],
  [/^\/app\/problems$/, problemsPage],
  [/^\/app\/stock$/, stockPage],
  [/^\/app\/subscriptions$/, subscriptionsPage],
  [/^\/app\/kpis$/, kpiPage],
  [/^\/app\/workflow$/, workflowPage],
];

export function go(path) {
  history.pushState(null, "", path);
  render();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !(url.pathname === "/app" || url.pathname.startsWith("/app/"))) return;
  ev.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener("popstate", render);

async function render() {
  const path = location.pathname;
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.getAttribute("href") === path ||
      (a.getAttribute("href") !== "/app" && path.startsWith(a.getAttribute("href"))));
  if (!me) {
    signInPage();
    return;
  }
  const route = routes.find(([re]) => re.test(path));
  const page = route ? route[1] : notFoundPage;
  const args = route ? path.match(route[0]).slice(1).map(decodeURIComponent) : [];
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    const content = await page(...args);
    main.replaceChildren(...[content].flat(Infinity).filter((x) => x !== null && x !== undefined && x !== false));
  } catch (e) {
    if (e instanceof api.ApiError && e.status === 401) {
      setSession(null);
      return;
    }
    main.replaceChildren(h("h1", {}, "Something went wrong"),
      h("p", { class: "notice bad", "data-error": e.code || "error" }, e.message || String(e)));
  }
  document.title = (main.querySelector("h1")?.textContent || "ordo") + " · ordo";
}

function setSession(s) {
  me = s;
  document.getElementById("nav").hidden = !s;
  document.getElementById("signout").hidden = !s;
  document.getElementById("who").textContent = s ? `${s.name} (${s.merchant})` : "";
  render();
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await api.signOut(); } finally { history.replaceState(null, "", "/app"); setSession(null); }
});

// --------------------------------------------------------------------------
// Sign-in

function signInPage() {
  const error = h("p", { class: "error", id: "signin-error", role: "alert" });
  const key = h("input", { type: "password", id: "api-key", name: "api_key", autocomplete: "off",
    required: true, placeholder: "merchant API key" });
  const form = h("form", { class: "card signin", id: "signin" },
    h("h1", {}, "Sign in"),
    h("label", { for: "api-key" }, "Merchant API key"), key,
    h("button", { type: "submit" }, "Sign in"), error);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      const s = await api.signIn(key.value);
      key.value = "";
      setSession(s);
    } catch (e) {
      error.textContent = e.status === 401 ? "That key was refused." : e.message;
    }
  });
  main.replaceChildren(form);
  document.title = "Sign in · ordo";
  key.focus();
}

function notFoundPage() {
  return [h("h1", {}, "Not found"), h("p", {}, "There is no such page. ",
    h("a", { href: "/app" }, "Back to the orders."))];
}

// --------------------------------------------------------------------------
// Orders

function orderRows(orders) {
  return orders.map((o) => [
    h("a", { href: `/app/orders/${o.id}`, "data-order": o.id }, `#${o.id}`),
    o.number || "", `${o.channel}:${o.external_id}`, o.email || "",
    badge(o.status), badge(o.payment_status), badge(o.fulfillment_status),
    money(o.total, o.currency), when(o.placed_at || o.created_at)]);
}

const ORDER_HEADERS = ["Order", "Number", "Storefront id", "Email", "Status", "Payment",
  "Fulfillment", "#Total", "Placed"];

async function pipelinePage() {
  const params = new URLSearchParams(location.search);
  const q = params.get("q") || "";
  const [summary, list, wf] = await Promise.all([
    api.get("orders/summary"),
    api.get("orders" + api.query({ q, limit: 25 })),
    api.optional("workflow").catch(() => null),
  ]);
  const input = h("input", { type: "search", name: "q", id: "order-search", value: q,
    placeholder: "External id, order number, customer email or SKU" });
  const form = h("form", { class: "search", id: "search" }, input,
    h("button", { type: "submit" }, "Search"),
    q ? h("a", { href: "/app", class: "muted" }, "clear") : null);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/app" + api.query({ q: input.value.trim() }));
  });
  const stat = (k, n) => h("div", { class: "card stat", "data-status": k },
    h("div", { class: "n" }, n ?? 0), h("div", { class: "k" }, k.replace(/_/g, " ")));
  const statuses = ["draft", "placed", "completed", "canceled"];
  return [
    h("h1", {}, "Orders"),
    h("div", { class: "cards", id: "pipeline" }, stat("all orders", summary.total),
      statuses.map((k) => stat(k, summary.status[k]))),
    h("h2", {}, "Fulfillment"),
    h("div", { class: "cards" }, Object.entries(summary.fulfillment_status).map(([k, n]) => stat(k, n))),
    wf ? workflowLine(wf) : null,
    h("h2", {}, q ? `Orders matching “${q}”` : "Newest orders"),
    form,
    h("div", { id: "orders" }, table(ORDER_HEADERS, orderRows(list.orders),
      q ? "No order matches." : "No orders yet.")),
  ];
}

function workflowLine(wf) {
  return wf.error
    ? h("p", { class: "notice bad" }, "Workflow: the last edit failed to load (",
      `${wf.error.file}:${wf.error.line}`, "); the previous version keeps running. ",
      h("a", { href: "/app/workflow" }, "Details"))
    : h("p", { class: "notice" }, `Workflow version ${String(wf.version).slice(0, 12)} loaded ${when(wf.loaded_at)}.`);
}

async function orderPage(id) {
  let o;
  try {
    o = await api.get("orders/" + encodeURIComponent(id));
  } catch (e) {
    if (e.status === 404)
      return [h("h1", { "data-not-found": "order" }, "Order not found"),
        h("p", {}, `This merchant has no order “${id}”. `, h("a", { href: "/app" }, "Back to the orders."))];
    throw e;
  }
  const cur = o.currency;
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of [["Storefront", `${o.channel}:${o.external_id}`], ["Number", o.number || "—"],
    ["Status", badge(o.status)], ["Payment", badge(o.payment_status)],
    ["Fulfillment", badge(o.fulfillment_status)], ["Customer", o.email || "—"],
    ["Total", money(o.total, cur)], ["Tags", (o.tags || []).join(", ") || "—"],
    ["Placed", when(o.placed_at)]])
    dl.append(h("dt", {}, k), h("dd", {}, v));
  return [
    h("h1", {}, `Order #${o.id}`, o.number ? ` (${o.number})` : ""),
    h("div", { class: "grid2" },
      h("div", { class: "card" }, dl),
      h("div", {}, table(["SKU", "Title", "#Qty", "#Shipped", "#Unit", "#Total"],
        (o.lines || []).map((l) => [l.sku || "", l.title || "", l.quantity, l.fulfilled_quantity ?? 0,
          money(l.unit_price, cur), money(l.total, cur)]), "No lines."))),
    h("h2", {}, "Timeline"),
    timeline(o),
  ];
}

// Everything that happened to the order, oldest first.
function timeline(o) {
  const items = [];
  const add = (at, kind, what, detail, bad, error) => items.push({ at, kind, what, detail, bad, error });
  for (const e of o.events || [])
    add(e.received_at, "event", e.event || e.topic,
      `${e.source}${e.channel ? "/" + e.channel : ""} ${e.topic} · ${e.status} · ${e.attempts} attempt${e.attempts === 1 ? "" : "s"}`,
      e.status === "dead", e.error);
  for (const x of o.history || []) {
    const change = x.kind === "status" || x.kind.endsWith("_status");
    const what = x.kind === "created" ? "order created"
      : change ? `${x.kind.replace(/_/g, " ")}: ${x.from ?? "—"} → ${x.to ?? "—"}`
      : [x.kind, x.to].filter(Boolean).join(" ");
    add(x.at, change ? "status" : x.kind, what, x.message);
  }
  for (const p of o.payments || [])
    add(p.created_at, "payment", `${p.kind} ${money(p.amount, p.currency)}`,
      `${p.gateway}${p.reference ? " " + p.reference : ""} · ${p.status}`, p.status === "failed", p.error);
  for (const s of o.shipments || []) {
    const what = `shipment #${s.id} from ${s.location}`;
    const track = [s.carrier, s.tracking_number].filter(Boolean).join(" ");
    if (s.shipped_at) add(s.shipped_at, "shipment", what + " shipped", track);
    if (s.delivered_at) add(s.delivered_at, "shipment", what + " delivered", track);
    if (!s.shipped_at && !s.delivered_at) add(null, "shipment", what, s.status);
  }
  for (const e of o.effects || [])
    add(e.created_at, e.kind === "notify" ? "notification" : "effect",
      `${e.kind} ${e.key}`, `${e.status} · ${e.attempts}/${e.max_attempts} attempts${e.last_status ? " · HTTP " + e.last_status : ""}`,
      e.status === "failed" || e.status === "dead", e.last_error);
  items.sort((a, b) => (a.at === null) - (b.at === null) || String(a.at).localeCompare(String(b.at)));
  if (!items.length) return h("p", { class: "muted" }, "Nothing yet.");
  return h("ol", { class: "timeline", id: "timeline" }, items.map((i) =>
    h("li", { class: i.bad ? "bad" : null, "data-kind": i.kind },
      h("span", { class: "when" }, when(i.at)), " ", h("span", { class: "kind" }, i.kind), " ",
      h("span", { class: "what" }, i.what), " ", i.detail ? h("span", { class: "muted" }, i.detail) : null,
      i.error ? h("pre", { class: "error" }, i.error) : null)));
}

// --------------------------------------------------------------------------
// Problems: dead letters and failed effects

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll `check` (about 15 s at most) until it answers something truthy.
async function until(check) {
  for (let i = 0; i < 60; i++) {
    const v = await check();
    if (v) return v;
    await sleep(250);
  }
  return null;
}

let flash = null;      // a retry's outcome, shown once on the page drawn after it

async function problemsPage() {
  const [dl, eff] = await Promise.all([api.get("dead-letters?limit=100"),
    api.get("effects?status=failed,dead&limit=100")]);
  const status = h("div", { id: "problem-status" }, flash);
  flash = null;
  // A retry that worked: the lists are drawn again without it.
  const redraw = (message) => { flash = message; render(); };
  const retryDead = async (d, button) => {
    button.disabled = true;
    try {
      const r = await api.post(`dead-letters/${d.id}/retry`);
      status.replaceChildren(h("p", { class: "notice" }, `Dead letter ${d.id}: event ${r.event_id} queued again…`));
      const ev = await until(async () => {
        const e = await api.get(`events/${r.event_id}`);
        return e.status !== "pending" ? e : null;
      });
      const ok = ev && ev.status === "done";
      const message = h("p", { class: ok ? "notice" : "notice bad", "data-retry": ok ? "succeeded" : "failed" },
        ok ? `Dead letter ${d.id} retried: event ${r.event_id} was handled.`
          : `Dead letter ${d.id}: event ${r.event_id} ${ev ? "failed again: " + (ev.error || ev.status) : "is still waiting"}.`);
      if (ok) redraw(message);
      else status.replaceChildren(message);
    } catch (e) {
      status.replaceChildren(h("p", { class: "notice bad" }, e.message));
      button.disabled = false;
    }
  };
  const retryEffect = async (e, button) => {
    button.disabled = true;
    try {
      await api.post(`effects/${e.id}/retry`);
      status.replaceChildren(h("p", { class: "notice" }, `Effect ${e.id} queued again…`));
      const done = await until(async () => {
        const list = await api.get(`effects?limit=1000`);
        const x = list.effects.find((y) => y.id === e.id);
        return x && x.status !== "pending" ? x : null;
      });
      const ok = done && done.status === "succeeded";
      const message = h("p", { class: ok ? "notice" : "notice bad", "data-retry": ok ? "succeeded" : "failed" },
        ok ? `Effect ${e.id} retried: it succeeded.` : `Effect ${e.id}: ${done ? done.status + " " + (done.last_error || "") : "still pending"}.`);
      if (ok) redraw(message);
      else status.replaceChildren(message);
    } catch (err) {
      status.replaceChildren(h("p", { class: "notice bad" }, err.message));
      button.disabled = false;
    }
  };
  const button = (label, fn, x, attr) => {
    const b = h("button", { type: "button", [attr]: x.id }, label);
    b.addEventListener("click", () => fn(x, b));
    return b;
  };
  return [
    h("h1", {}, "Problems"), status,
    h("h2", {}, `Dead letters (${dl.dead_letters.length})`),
    h("div", { id: "dead-letters" }, table(["#Id", "Event", "Channel", "Error", "#Attempts", "When", ""],
      dl.dead_letters.map((d) => [d.id, d.event || d.topic, d.channel || "", h("pre", { class: "error" }, d.error),
        d.attempts, when(d.created_at), button("Retry", retryDead, d, "data-retry-dead-letter")]),
      "No dead letters: every event was handled.")),
    h("h2", {}, `Failed effects (${eff.effects.length})`),
    h("div", { id: "failed-effects" }, table(["#Id", "Kind", "Key", "Order", "Status", "Last error", "#Attempts", ""],
      eff.effects.map((e) => [e.id, e.kind, e.key,
        e.order_id ? h("a", { href: `/app/orders/${e.order_id}` }, `#${e.order_id}`) : "",
        badge(e.status), e.last_error || "", `${e.attempts}/${e.max_attempts}`,
        button("Retry", retryEffect, e, "data-retry-effect")]),
      "No failed effects.")),
  ];
}

// --------------------------------------------------------------------------
// Stock

async function stockPage() {
  const params = new URLSearchParams(location.search);
  const low = Math.max(1, parseInt(params.get("low") || "5", 10) || 5);
  const [lowList, all] = await Promise.all([api.get("inventory" + api.query({ low })),
    api.get("inventory")]);
  const input = h("input", { type: "number", min: 1, value: low, id: "low", name: "low" });
  const form = h("form", { class: "controls" }, h("label", { for: "low" }, "Low stock below"), input,
    h("button", { type: "submit", class: "secondary" }, "Show"));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); go("/app/stock" + api.query({ low: input.value })); });
  const row = (s) => [s.sku, s.location, s.on_hand, s.reserved, s.available, s.backordered];
  const heads = ["SKU", "Location", "#On hand", "#Reserved", "#Available", "#Backordered"];
  const back = all.stock.filter((s) => s.backordered > 0).sort((a, b) => b.backordered - a.backordered);
  return [
    h("h1", {}, "Stock"), form,
    h("h2", {}, `Low stock (${lowList.stock.length})`),
    h("div", { id: "low-stock" }, table(heads, lowList.stock.map(row), `Nothing below ${low}.`)),
    h("h2", {}, `Backorder queue (${back.length})`),
    h("div", { id: "backorders" }, table(heads, back.map(row), "No backorders waiting.")),
    h("h2", {}, "All stock"),
    table(heads, all.stock.map(row), "No stock recorded."),
  ];
}

// --------------------------------------------------------------------------
// Subscriptions

async function subscriptionsPage() {
  const soon = new Date(Date.now() + 7 * 86400e3).toISOString().replace(/\.\d+Z$/, "Z");
  const [due, past] = await Promise.all([
    api.get("subscriptions" + api.query({ status: "active", due_before: soon })),
    api.get("subscriptions" + api.query({ status: "past_due" }))]);
  const row = (s) => [s.id, s.order?.email || s.order?.customer?.email || "", badge(s.status),
    `${s.count} ${s.interval}`, s.cycle, when(s.next_renewal)];
  const heads = ["#Id", "Customer", "Status", "Every", "#Cycle", "Next renewal"];
  return [
    h("h1", {}, "Subscriptions"),
    h("h2", {}, `Due in the next 7 days (${due.subscriptions.length})`),
    h("div", { id: "due-soon" }, table(heads, due.subscriptions.map(row), "None due this week.")),
    h("h2", {}, `Past due (${past.subscriptions.length})`),
    h("div", { id: "past-due" }, table(heads, past.subscriptions.map(row), "None past due.")),
  ];
}

// --------------------------------------------------------------------------
// KPIs

const day = (d) => d.toISOString().slice(0, 10);

async function kpiPage() {
  const params = new URLSearchParams(location.search);
  const to = params.get("to") || day(new Date(Date.now() + 86400e3));
  const from = params.get("from") || day(new Date(Date.now() - 29 * 86400e3));
  const bucket = params.get("bucket") === "week" ? "week" : "day";
  let k;
  try {
    k = await api.optional("reports/kpis" + api.query({ from, to, bucket }));
  } catch (e) {
    // A server that wants timestamps rather than dates: the same days.
    if (e.status !== 400) throw e;
    k = await api.optional("reports/kpis" + api.query({ from: from + "T00:00:00Z", to: to + "T00:00:00Z", bucket }));
  }
  const fIn = h("input", { type: "date", id: "kpi-from", value: from });
  const tIn = h("input", { type: "date", id: "kpi-to", value: to });
  const bIn = h("select", { id: "kpi-bucket" }, ["day", "week"].map((b) =>
    h("option", { value: b, selected: b === bucket }, b)));
  const form = h("form", { class: "controls" }, "From", fIn, "to", tIn, "by", bIn,
    h("button", { type: "submit", class: "secondary" }, "Show"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go("/app/kpis" + api.query({ from: fIn.value, to: tIn.value, bucket: bIn.value }));
  });
  if (k === null)
    return [h("h1", {}, "KPIs"), h("p", { class: "notice", "data-unavailable": "kpis" },
      "KPIs are not available on this server (it has no /api/v1/reports/kpis).")];
  const cur = k.currency || me.currency;
  const buckets = k.buckets || [];
  const stat = (label, v) => h("div", { class: "card stat" }, h("div", { class: "n" }, v), h("div", { class: "k" }, label));
  const lt = k.lead_time || {};
  const channels = (o) => Object.entries(o?.by_channel || {});
  return [
    h("h1", {}, "KPIs"), form,
    h("div", { class: "cards" },
      stat("orders", k.orders?.total ?? 0), stat("revenue", money(k.revenue?.total ?? 0, cur)),
      stat("fulfillment rate", percent(k.fulfillment_rate)),
      stat("placed → shipped (avg)", duration(lt.placed_to_shipped?.avg_s)),
      stat("placed → shipped (p90)", duration(lt.placed_to_shipped?.p90_s)),
      stat("shipped → delivered (avg)", duration(lt.shipped_to_delivered?.avg_s)),
      stat("open backorders", k.backorders?.open ?? 0),
      stat("oldest backorder", duration(k.backorders?.oldest_age_s)),
      stat("refunds", `${money(k.refunds?.total ?? 0, cur)} (${k.refunds?.count ?? 0})`),
      stat("renewal success", percent(k.renewals?.success_rate)),
      stat("dunning recovery", percent(k.dunning?.recovery_rate))),
    h("div", { class: "grid2", id: "kpi-charts" },
      barChart({ title: `Orders by ${bucket}`, name: "orders",
        bars: buckets.map((b) => ({ label: b.start.slice(5), value: b.orders })),
        format: (v) => String(Math.round(v)) }),
      barChart({ title: `Revenue by ${bucket} (${cur})`, name: "revenue",
        bars: buckets.map((b) => ({ label: b.start.slice(5), value: b.revenue })),
        format: (v) => money(Math.round(v), cur).replace(cur + " ", "") })),
    h("h2", {}, "By channel"),
    table(["Channel", "#Orders", "#Revenue"], channels(k.orders).map(([c, n]) =>
      [c, n, money(k.revenue?.by_channel?.[c] ?? 0, cur)]), "No orders in this period."),
    h("h2", {}, "Returns by SKU"),
    table(["SKU", "#Sold", "#Returned", "#Rate"], (k.returns?.rate_by_sku || []).map((r) =>
      [r.sku, r.sold, r.returned, percent(r.rate)]), "No returns in this period."),
  ];
}

// --------------------------------------------------------------------------
// Workflow

async function workflowPage() {
  const wf = await api.optional("workflow");
  if (wf === null)
    return [h("h1", {}, "Workflow"), h("p", { class: "notice", "data-unavailable": "workflow" },
      "The workflow status is not available on this server (it has no /api/v1/workflow).")];
  const dl = h("dl", { class: "facts" });
  for (const [k, v] of [["File", wf.file], ["Version", wf.version], ["Loaded", when(wf.loaded_at)]])
    dl.append(h("dt", {}, k), h("dd", {}, v ?? "—"));
  return [
    h("h1", {}, "Workflow"), h("div", { class: "card" }, dl),
    wf.error
      ? [h("h2", {}, "The last edit did not load"),
        h("p", { class: "notice bad" }, `${wf.error.file}:${wf.error.line}: ${wf.error.message}`),
        wf.error.snippet ? h("pre", { class: "error" }, wf.error.snippet) : null,
        h("p", { class: "muted" }, "The version above keeps running until a fixed edit loads.")]
      : h("p", { class: "notice" }, "The workflow on disk is the one running."),
  ];
}

// --------------------------------------------------------------------------

api.session().then(setSession, (e) => {
  main.replaceChildren(h("p", { class: "notice bad" }, "The server does not answer: " + e.message));
});
