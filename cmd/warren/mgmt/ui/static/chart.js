// chart.js: a small line chart in SVG for the overview's rates and queued messages.
// No library: a few polylines over a fixed window of samples.

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// lineChart draws series [{label, cls, values}] over `slots` sample slots, newest on
// the right. unit is appended to the axis label ("/s" or "").
export function lineChart({ series, slots, unit, title }) {
  const W = 720, H = 170, L = 46, R = 8, T = 8, B = 20;
  const max = niceMax(Math.max(0, ...series.flatMap((x) => x.values)));
  const x = (i, n) => L + ((W - L - R) * (slots - n + i)) / Math.max(1, slots - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const fmt = (v) => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k` : `${+v.toFixed(1)}`);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title },
    s('title', {}, title));
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f);
    svg.append(s('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid' }),
      s('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end', class: 'axis' }, fmt(max * f) + unit));
  }
  svg.append(s('text', { x: L, y: H - 4, class: 'axis' }, `${Math.round((slots * 5) / 60)} min ago`),
    s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'axis' }, 'now'));
  for (const se of series) {
    const n = se.values.length;
    if (n === 0) continue;
    const pts = se.values.map((v, i) => `${x(i, n).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { points: n === 1 ? `${pts} ${pts}` : pts, class: `line ${se.cls}` }));
  }
  return svg;
}
