// DOM building without innerHTML: every value from the API becomes a text node, so a
// hostname like "<img onerror=…>" shows as text instead of running.

/** h('a', {href: '#/x', class: 'k'}, 'text', child…): an element. `on*` keys add listeners;
 *  null/undefined/false attributes and children are skipped; arrays are flattened. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';

/** An SVG element; attributes as for h(), no listeners. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the content of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** "2026-11-22T08:00:00.000000Z" → local date and time, short. */
export function when(ts, lang) {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toLocaleString(lang, { dateStyle: 'short', timeStyle: 'short' });
}

export function number(n, lang) {
  return typeof n === 'number' ? n.toLocaleString(lang) : '—';
}
