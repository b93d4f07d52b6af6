// Small bar charts as SVG built with DOM calls (no inline styles or markup, so the CSP holds).
"use strict";
const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function clockTime(ts) {
  return new Date(ts * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// values: counts per bar; start: epoch seconds of the first bar; step: seconds per bar.
function barChart(values, start, step, label) {
  const width = 300, height = 64, top = 4;
  const max = Math.max(1, ...values);
  const svg = svgEl("svg", {
    viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
    role: "img", class: "chart",
  });
  const title = svgEl("title");
  title.textContent = `${label}: ${values.reduce((a, b) => a + b, 0)} in the window, at most ${max} per ${step} s`;
  svg.append(title);
  const barWidth = width / Math.max(1, values.length);
  values.forEach((v, i) => {
    const h = v ? Math.max(2, (height - top) * v / max) : 0;
    const bar = svgEl("rect", {
      x: (i * barWidth + 0.5).toFixed(2), y: (height - h).toFixed(2),
      width: Math.max(0.5, barWidth - 1).toFixed(2), height: h.toFixed(2), class: "bar",
    });
    const tip = svgEl("title");
    tip.textContent = `${clockTime(start + i * step)}: ${v}`;
    bar.append(tip);
    svg.append(bar);
  });
  svg.append(svgEl("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" }));
  return svg;
}

window.barChart = barChart;
