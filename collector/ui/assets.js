// Asset list: the filters live in the URL (#/assets?q=…&site=…), so a dashboard number, a
// bookmark and the back button all give the same list. One page of rows is fetched at a time.

import { get, query } from './api.js';
import { h, mount, number, when } from './dom.js';
import { lang, t } from './i18n.js';

/** Filters the API understands, in toolbar order. */
export const FILTERS = ['q', 'entity', 'site', 'kind', 'state', 'os', 'vendor', 'seen_since',
  'seen_before', 'first_seen_since', 'unmanaged', 'agent'];
const PASSED = [...FILTERS, 'sort', 'page', 'per_page'];

export const COLUMNS = ['name', 'kind', 'site', 'serial', 'uuid', 'manufacturer', 'model', 'os',
  'ip_addresses', 'mac_addresses', 'first_seen', 'last_seen'];
const DEFAULT_COLUMNS = ['name', 'kind', 'site', 'manufacturer', 'os', 'ip_addresses', 'last_seen'];
/** Columns the API can sort by. */
const SORTABLE = new Set(['name', 'kind', 'site', 'serial', 'manufacturer', 'model', 'os', 'first_seen', 'last_seen']);
const COLUMNS_KEY = 'parc.columns';

function chosenColumns() {
  try {
    const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY));
    if (Array.isArray(saved)) {
      const cols = saved.filter((c) => COLUMNS.includes(c));
      if (cols.length) return cols;
    }
  } catch { /* defaults */ }
  return DEFAULT_COLUMNS;
}

/** The text of one cell, as shown and as exported. */
export function cell(asset, column) {
  const v = asset[column];
  if (Array.isArray(v)) return v.join(' ');
  if (column === 'first_seen' || column === 'last_seen') return when(v, lang());
  return v ?? '';
}

/** A cell that a spreadsheet would run as a formula gets a leading quote (as the API's export). */
export function csvCell(text) {
  let s = String(text);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(items, columns) {
  const head = columns.map((c) => csvCell(t(`col.${c}`)));
  const rows = items.map((a) => columns.map((c) => {
    const v = a[c];
    return csvCell(Array.isArray(v) ? v.join(' ') : v ?? '');
  }).join(','));
  return [head.join(','), ...rows].join('\r\n') + '\r\n';
}

function go(params) {
  location.hash = `#/assets${query(params)}`;
}

export async function render(view, ctx) {
  const params = Object.fromEntries(PASSED.map((k) => [k, ctx.params.get(k) || '']));
  params.per_page = params.per_page || '50';
  const page = await get(`/api/v1/assets${query(params)}`);
  if (!ctx.current()) return;
  const columns = chosenColumns();

  const field = (name, type = 'text') => h('label', {}, t(`filter.${name}`),
    h('input', { name, type, value: params[name], id: `f-${name}` }));
  const toolbar = h('form', { class: 'toolbar', id: 'filters', role: 'search' },
    h('label', {}, t('filter.q'), h('input', { name: 'q', type: 'search', value: params.q, id: 'search', placeholder: t('filter.q_hint') })),
    field('site'), field('kind'), field('os'), field('vendor'), field('state'),
    h('label', {}, t('filter.seen_since'), h('input', { name: 'seen_since', type: 'date', value: params.seen_since.slice(0, 10), id: 'f-seen_since' })),
    h('label', {}, t('filter.unmanaged'), h('select', { name: 'unmanaged', id: 'f-unmanaged' },
      h('option', { value: '' }, '—'),
      h('option', { value: 'true', selected: params.unmanaged === 'true' }, t('yes')),
      h('option', { value: 'false', selected: params.unmanaged === 'false' }, t('no')))),
    h('button', { type: 'submit', class: 'primary' }, t('filter.apply')),
    h('button', { type: 'button', onclick: () => go({}) }, t('filter.clear')));
  toolbar.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = { ...params, page: '' };
    for (const [k, v] of new FormData(toolbar)) next[k] = String(v).trim();
    go(next);
  });

  // Filters that came from a dashboard link but have no toolbar field stay visible, removable.
  const hidden = ['entity', 'seen_before', 'first_seen_since', 'agent'].filter((k) => params[k]);
  const chips = hidden.length ? h('p', { class: 'muted', id: 'extra-filters' }, hidden.map((k) =>
    h('span', { class: 'tag' }, `${t(`filter.${k}`)}: ${k.endsWith('_since') || k.endsWith('_before') ? when(params[k], lang()) : params[k]} `,
      h('a', { href: `#/assets${query({ ...params, [k]: '', page: '' })}`, 'aria-label': t('filter.clear') }, '×')))) : null;

  const colChoice = h('details', { class: 'cols' }, h('summary', {}, t('list.columns')),
    h('div', { class: 'columns' }, COLUMNS.map((c) => h('label', {},
      h('input', {
        type: 'checkbox', checked: columns.includes(c), id: `col-${c}`,
        onchange: (e) => {
          const next = e.target.checked ? COLUMNS.filter((x) => x === c || columns.includes(x)) : columns.filter((x) => x !== c);
          try { localStorage.setItem(COLUMNS_KEY, JSON.stringify(next)); } catch { /* this page only */ }
          render(view, ctx);
        },
      }), t(`col.${c}`)))));

  const sort = params.sort || '';
  const header = h('tr', {}, columns.map((c) => {
    if (!SORTABLE.has(c)) return h('th', {}, t(`col.${c}`));
    const active = sort.replace(/^-/, '') === c;
    const desc = active && sort.startsWith('-');
    return h('th', { 'aria-sort': active ? (desc ? 'descending' : 'ascending') : null },
      h('button', { type: 'button', id: `sort-${c}`, onclick: () => go({ ...params, sort: active && !desc ? `-${c}` : c, page: '' }) },
        t(`col.${c}`), active ? (desc ? ' ▼' : ' ▲') : ''));
  }));
  const body = h('tbody', {}, page.items.map((a) => h('tr', { dataset: { id: a.id } }, columns.map((c) =>
    c === 'name' ? h('td', {}, h('a', { href: `#/assets/${a.id}` }, a.name || `#${a.id}`)) : h('td', {}, cell(a, c))))));

  const pages = Math.max(1, Math.ceil(page.total / page.per_page));
  const pager = h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: page.page <= 1, onclick: () => go({ ...params, page: page.page - 1 }) }, t('list.prev')),
    h('span', { id: 'page-info' }, t('list.page', { page: page.page, pages, total: number(page.total, lang()) })),
    h('button', { type: 'button', disabled: page.page >= pages, onclick: () => go({ ...params, page: page.page + 1 }) }, t('list.next')));

  const exportView = h('button', {
    type: 'button', id: 'export-view',
    onclick: () => {
      const blob = new Blob([toCsv(page.items, columns)], { type: 'text/csv' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `parc-assets-page${page.page}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
    },
  }, t('list.export_view'));
  const filterOnly = Object.fromEntries(FILTERS.map((k) => [k, params[k]]));
  const exportAll = h('a', { href: `/api/v1/assets/export${query({ format: 'csv', ...filterOnly })}`, id: 'export-all' }, t('list.export_all'));

  mount(view,
    h('h1', {}, t('list.title')),
    toolbar, chips,
    h('div', { class: 'toolbar' }, colChoice, exportView, exportAll),
    h('p', { class: 'muted', id: 'total', dataset: { total: page.total } }, t('list.total', { total: number(page.total, lang()) })),
    h('div', { class: 'scroll' }, h('table', { id: 'assets' }, h('thead', {}, header), body)),
    pager);
}
