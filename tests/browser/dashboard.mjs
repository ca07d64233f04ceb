// dashboard.mjs: drives the dashboard in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core). Run by test_dashboard.py,
// which starts the daemon and makes the data; the spec comes as JSON in
// the DASH_SPEC environment variable:
//   {scenario: "flow" | "kpis", base, keys: {acme, beta}, artifacts, ...}
// Every wait is bounded; the first failed check ends the run with exit 1
// and its message. Screenshots of each page go to spec.artifacts.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const spec = JSON.parse(process.env.DASH_SPEC);
const WAIT = 15000;   // ms, the most any one step may take

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--metrics-recording-only", "--disable-breakpad"],
});
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(WAIT);

// Everything the page asks for, and anything it complains about.
const requests = [];
const problems = [];
page.on("request", (r) => requests.push(r.url()));
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("console", (m) => {
  // A refused API call logs "Failed to load resource" (the 401 of a wrong
  // key, the 404 of another merchant's order): expected, checked elsewhere.
  if (m.type() === "error" && !/Failed to load resource: the server responded with a status of 40[14]/.test(m.text()))
    problems.push("console: " + m.text());
});

// Every page is checked for placeholders leaking into its text.
async function shot(name) {
  const main = await page.locator("main").innerText();
  assert.doesNotMatch(main, /\b(null|undefined|NaN)\b|\[object /, `page ${name} shows a placeholder`);
  await rawShot(name);
}
const rawShot = (name) => page.screenshot({ path: path.join(spec.artifacts, name + ".png"), fullPage: true });
const text = (sel) => page.locator(sel).first().innerText();

async function signIn(key) {
  await page.goto(spec.base + "/app");
  await page.waitForSelector("#signin");
  await page.fill("#api-key", key);
  await page.click("#signin button[type=submit]");
}

async function flow() {
  // A wrong key is refused, and no cookie is set.
  await signIn("wrong-key-that-is-long-enough");
  await page.waitForFunction(() => /refused/.test(document.querySelector("#signin-error")?.textContent || ""));
  assert.deepEqual(await context.cookies(), []);
  assert.equal(await page.locator("#nav").isVisible(), false, "no navigation before signing in");
  assert.equal(await page.locator("#signout").isVisible(), false);
  await shot("signin-refused");

  // Sign in: an HttpOnly, SameSite=Strict session cookie; the pipeline.
  await page.fill("#api-key", spec.keys.acme);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#pipeline");
  assert.equal(await page.locator("#nav").isVisible(), true);
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  assert.equal(cookies[0].name, "ordo_session");
  assert.equal(cookies[0].httpOnly, true);
  assert.equal(cookies[0].sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie), "", "the cookie must not be readable by script");
  const all = await text('[data-status="all orders"] .n');
  assert.equal(Number(all), spec.acme_orders, "the count of all orders");
  await shot("pipeline");

  // Find an order by its external id; exactly that one is listed.
  await page.fill("#order-search", spec.external_id);
  await page.click("#search button[type=submit]");
  await page.waitForSelector(`#orders a[data-order="${spec.order_id}"]`);
  assert.equal(await page.locator("#orders tbody tr").count(), 1);
  assert.match(page.url(), /\/app\?q=/);
  await shot("search");

  // Its timeline: the storefront's events and what they did.
  await page.click(`#orders a[data-order="${spec.order_id}"]`);
  await page.waitForSelector("#timeline");
  assert.match(page.url(), new RegExp(`/app/orders/${spec.order_id}$`));
  const events = page.locator('#timeline li[data-kind="event"]');
  assert.ok(await events.count() >= 3, "the create, update and paid events");
  const timeline = await text("#timeline");
  assert.match(timeline, /order_created/);
  assert.match(timeline, /orders\/updated/);
  assert.match(timeline, /order created/);
  assert.match(timeline, /payment status: unpaid → paid/);
  assert.ok(await page.locator('#timeline li[data-kind="status"]').count() >= 1, "a status change");
  assert.ok(await page.locator('#timeline li[data-kind="payment"]').count() >= 1, "a payment");
  // The order confirmation: its effect (delivered) and what the workflow noted.
  const notes = await page.locator('#timeline li[data-kind="notification"]').allInnerTexts();
  assert.ok(notes.some((t) => /notify .* succeeded .*HTTP 200/.test(t)), notes.join(" | "));
  assert.ok(notes.some((t) => /order_confirmation to buyer0@example.com sent/.test(t)), notes.join(" | "));
  await shot("order");

  // Another merchant's order: the API says 404, the page says not found.
  const answer = page.waitForResponse((r) => r.url().endsWith(`/api/v1/orders/${spec.beta_order_id}`));
  await page.goto(`${spec.base}/app/orders/${spec.beta_order_id}`);
  assert.equal((await answer).status(), 404);
  await page.waitForSelector('h1[data-not-found="order"]');
  await shot("order-of-another-merchant");

  // The other pages render without an error.
  for (const [route, sel, name] of [["/app/stock", "#low-stock", "stock"],
    ["/app/problems", "#dead-letters", "problems-none"], ["/app/subscriptions", "#due-soon", "subscriptions"], ["/app/workflow", "h1", "workflow"],
    ["/app/kpis", "h1", "kpis-page"]]) {
    await page.goto(spec.base + route);
    await page.waitForSelector(sel);
    assert.equal(await page.locator('[data-error]').count(), 0, `${route} shows an error`);
    await shot(name);
    if (name === "workflow") {
      if (spec.workflow === null)
        await page.waitForSelector('[data-unavailable="workflow"]');
      else
        assert.match(await text("main"), new RegExp(String(spec.workflow.version).slice(0, 12)));
    }
    if (name === "kpis-page")
      await page.waitForSelector(spec.kpis_route ? 'svg[data-chart="orders"]' : '[data-unavailable="kpis"]');
  }

  await page.goto(spec.base + "/app/subscriptions");
  await page.waitForSelector("#due-soon");
  const due = await text("#due-soon");
  assert.match(due, new RegExp(spec.due_soon));
  assert.doesNotMatch(due, new RegExp(spec.due_later));
  assert.match(await text("#past-due"), /None past due/);

  // Sign out, then in as beta: its dead letter, retried from the page.
  await page.click("#signout");
  await page.waitForSelector("#signin");
  await page.fill("#api-key", spec.keys.beta);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#pipeline");
  await page.goto(spec.base + "/app/stock?low=5");
  await page.waitForSelector("#low-stock");
  const low = await text("#low-stock"), backorders = await text("#backorders");
  assert.match(low, new RegExp(spec.low_sku));
  assert.doesNotMatch(low, /PLENTY/);
  assert.match(backorders, new RegExp(spec.backordered_sku));
  assert.doesNotMatch(backorders, new RegExp(spec.low_sku));
  await shot("stock-with-queues");
  await page.goto(spec.base + "/app/problems");
  const retry = `button[data-retry-dead-letter="${spec.dead_letter_id}"]`;
  await page.waitForSelector(retry);
  assert.match(await text("#dead-letters"), /no such order/);
  await shot("problems");
  await page.click(retry);
  await page.waitForSelector('[data-retry="succeeded"]');
  assert.match(await text("#problem-status"), new RegExp(`Dead letter ${spec.dead_letter_id} retried`));
  assert.equal(await page.locator(retry).count(), 0);
  await shot("problems-retried");

  // The failed effect, retried from the page now that its endpoint is up.
  const again = `button[data-retry-effect="${spec.effect_id}"]`;
  assert.match(await text("#failed-effects"), /503/);
  await page.click(again);
  await page.waitForSelector('[data-retry="succeeded"]:has-text("Effect")');
  assert.match(await text("#problem-status"), new RegExp(`Effect ${spec.effect_id} retried: it succeeded`));
  assert.equal(await page.locator(again).count(), 0);
  assert.match(await text("#failed-effects"), /No failed effects/);
  assert.match(await text("#dead-letters"), /No dead letters/);
  await shot("problems-effect-retried");
}

async function kpis() {
  await signIn(spec.keys.acme);
  await page.waitForSelector("#pipeline");
  await page.goto(spec.base + "/app/kpis");
  await page.waitForSelector('svg[data-chart="orders"]');
  const bars = page.locator('svg[data-chart="orders"] rect.bar');
  assert.ok(await bars.count() >= 1, "a bar per bucket");
  const heights = await bars.evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("height"))));
  assert.ok(heights.some((x) => x > 0), "a bar with orders: " + heights);
  assert.ok(await page.locator('svg[data-chart="revenue"] rect.bar').count() >= 1);
  await shot("kpis");
}

let failed = null;
try {
  await (spec.scenario === "kpis" ? kpis() : flow());
  const away = requests.filter((u) => !u.startsWith(spec.base + "/"));
  assert.deepEqual(away, [], "requests that left the daemon");
  assert.deepEqual(problems, []);
} catch (e) {
  failed = e;
  await rawShot("failure-" + spec.scenario).catch(() => {});
}
await browser.close();
if (failed) {
  console.error(failed.stack || String(failed));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, scenario: spec.scenario, requests: requests.length }));
