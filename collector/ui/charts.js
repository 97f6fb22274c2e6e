// Charts as inline SVG, drawn from data the page already fetched. Sizes are in viewBox units,
// the SVG scales to its container's width. Colours are SVG presentation attributes (not style
// attributes, which the Content-Security-Policy forbids).

import { h, s } from './dom.js';

export const PALETTE = ['#1d5c8f', '#e08a1e', '#2e7d32', '#8e44ad', '#c0392b', '#16a085',
  '#7f8c8d', '#d35400', '#2c3e50', '#b7950b'];

const W = 480;

function label(text, max) {
  const str = String(text ?? '—');
  return str.length > max ? `${str.slice(0, max - 1)}…` : str;
}

/** Horizontal bars: [{label, value, href?}], longest first as given. */
export function bars(items, { title } = {}) {
  const row = 22;
  const left = 150;
  const max = Math.max(1, ...items.map((i) => i.value));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${Math.max(row, items.length * row) + 4}`, role: 'img', 'aria-label': title || '' },
    items.map((item, n) => {
      const y = n * row + 2;
      const width = Math.max(1, ((W - left - 60) * item.value) / max);
      const bar = [
        s('text', { x: left - 6, y: y + 14, 'text-anchor': 'end' }, s('title', {}, item.label ?? '—'), label(item.label, 24)),
        s('rect', { x: left, y: y + 3, width, height: row - 8, rx: 2, fill: item.color || PALETTE[0] }),
        s('text', { x: left + width + 4, y: y + 14 }, item.value.toLocaleString()),
      ];
      return item.href ? s('a', { href: item.href }, bar) : s('g', {}, bar);
    }));
  return svg;
}

/** Stacked horizontal bars: rows [{label, parts: Map key→value, href?(key)}], with a legend. */
export function stacked(rows, keys, { title, href } = {}) {
  const row = 24;
  const left = 150;
  const max = Math.max(1, ...rows.map((r) => [...r.parts.values()].reduce((a, b) => a + b, 0)));
  const color = (k) => PALETTE[keys.indexOf(k) % PALETTE.length];
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${Math.max(row, rows.length * row) + 4}`, role: 'img', 'aria-label': title || '' },
    rows.map((r, n) => {
      const y = n * row + 2;
      let x = left;
      const total = [...r.parts.values()].reduce((a, b) => a + b, 0);
      const segs = keys.filter((k) => r.parts.get(k)).map((k) => {
        const width = ((W - left - 60) * r.parts.get(k)) / max;
        const rect = s('rect', { x, y: y + 3, width: Math.max(1, width), height: row - 8, fill: color(k) },
          s('title', {}, `${r.label} · ${k}: ${r.parts.get(k)}`));
        x += width;
        return href ? s('a', { href: href(r.label, k) }, rect) : rect;
      });
      return s('g', {},
        s('text', { x: left - 6, y: y + 15, 'text-anchor': 'end' }, label(r.label, 24)),
        segs,
        s('text', { x: x + 4, y: y + 15 }, total.toLocaleString()));
    }));
  const legend = h('div', { class: 'legend' }, keys.map((k) => h('span', {},
    s('svg', { width: 10, height: 10, viewBox: '0 0 10 10' }, s('rect', { width: 10, height: 10, fill: color(k) })), ` ${k}`)));
  return h('div', {}, svg, legend);
}

/** Values over time: points [{t: Date, value, href?}] as a line with dots, oldest first. */
export function timeline(points, { title } = {}) {
  const H = 160;
  const pad = { l: 40, r: 10, t: 10, b: 24 };
  if (points.length === 0) return s('svg', { class: 'chart', viewBox: `0 0 ${W} 20` });
  const t0 = points[0].t.getTime();
  const t1 = Math.max(t0 + 1, points[points.length - 1].t.getTime());
  const max = Math.max(1, ...points.map((p) => p.value));
  const x = (p) => pad.l + ((W - pad.l - pad.r) * (p.t.getTime() - t0)) / (t1 - t0 || 1);
  const y = (v) => H - pad.b - ((H - pad.t - pad.b) * v) / max;
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(p).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  return s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title || '' },
    s('line', { class: 'axis', x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: '#d9dee6' }),
    s('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, stroke: '#d9dee6' }),
    s('text', { x: pad.l - 4, y: y(max) + 4, 'text-anchor': 'end' }, max.toLocaleString()),
    s('text', { x: pad.l - 4, y: H - pad.b + 4, 'text-anchor': 'end' }, '0'),
    s('text', { x: pad.l, y: H - 6 }, points[0].t.toLocaleDateString()),
    s('text', { x: W - pad.r, y: H - 6, 'text-anchor': 'end' }, points[points.length - 1].t.toLocaleDateString()),
    s('path', { d: path, fill: 'none', stroke: PALETTE[0], 'stroke-width': 2 }),
    points.map((p) => {
      const dot = s('circle', { cx: x(p), cy: y(p.value), r: 4, fill: PALETTE[1] },
        s('title', {}, `${p.t.toLocaleString()}: ${p.value}`));
      return p.href ? s('a', { href: p.href }, dot) : dot;
    }));
}
