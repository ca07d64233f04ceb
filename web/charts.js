// charts.js: bar charts as plain SVG elements (no canvas, no library).

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// A rounded-up axis maximum with 4 even steps.
function niceMax(v) {
  if (v <= 0) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p * 4 >= v) return m * p * 4;
  return v;
}

// bars: [{label, value}]; label(v) formats an axis value.
export function barChart({ title, bars, format = String, name = "chart" }) {
  const W = 520, H = 240, L = 64, R = 12, T = 30, B = 40;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": title, "data-chart": name });
  svg.append(s("text", { x: L, y: 18, class: "title" }, title));
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value)));
  const plotW = W - L - R, plotH = H - T - B;
  for (let i = 0; i <= 4; i++) {
    const y = T + plotH - (plotH * i) / 4;
    svg.append(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: i ? "grid" : "axis" }));
    svg.append(s("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, format((max * i) / 4)));
  }
  const slot = plotW / Math.max(1, bars.length);
  const every = Math.ceil(bars.length / 8);
  bars.forEach((b, i) => {
    const hgt = (plotH * b.value) / max;
    const x = L + i * slot + slot * 0.15;
    const rect = s("rect", { x, y: T + plotH - hgt, width: slot * 0.7, height: Math.max(hgt, 0),
      class: "bar" });
    rect.append(s("title", {}, `${b.label}: ${format(b.value)}`));
    svg.append(rect);
    if (i % every === 0)
      svg.append(s("text", { x: x + slot * 0.35, y: H - B + 16, "text-anchor": "middle" }, b.label));
  });
  return svg;
}
