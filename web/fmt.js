// fmt.js: DOM building (text only, never HTML strings), money and times.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function badge(text) {
  return h("span", { class: "badge " + String(text || "").replace(/[^a-z_]/g, "") }, text ?? "—");
}

const exponents = new Map();

// Minor units of `currency` as text ("12900", "USD" -> "USD 129.00"),
// without passing through a fraction.
export function money(units, currency) {
  if (units === null || units === undefined) return "—";
  if (!exponents.has(currency)) {
    let e = 2;
    try {
      e = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
        .maximumFractionDigits;
    } catch { /* unknown code: 2 */ }
    exponents.set(currency, e);
  }
  const exp = exponents.get(currency);
  const neg = units < 0;
  const digits = String(Math.abs(Math.trunc(units))).padStart(exp + 1, "0");
  const whole = BigInt(digits.slice(0, digits.length - exp)).toLocaleString("en");
  const frac = exp ? "." + digits.slice(digits.length - exp) : "";
  return (neg ? "−" : "") + currency + " " + whole + frac;
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

export function percent(x) {
  return x === null || x === undefined ? "—" : (x * 100).toFixed(1) + " %";
}

export function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty || "Nothing here.");
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) =>
      h("th", { class: x.startsWith("#") ? "num" : null }, x.replace(/^#/, ""))))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) =>
      h("td", { class: headers[i].startsWith("#") ? "num" : null }, c))))));
}
