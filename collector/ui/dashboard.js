// Dashboard: GET /api/v1/dashboard, one request. Every number links to the asset list with the
// filter that counts it (the API gives the cut-off instants it used).

import { get, query } from './api.js';
import { h, mount, number } from './dom.js';
import { lang, t } from './i18n.js';
import { bars, stacked } from './charts.js';

const list = (params) => `#/assets${query(params)}`;

function tile(id, n, labelKey, href, warn) {
  return h('a', { class: `tile${warn && n > 0 ? ' warn' : ''}`, href, id: `fig-${id}`, dataset: { figure: id, value: n } },
    h('span', { class: 'n' }, number(n, lang())),
    h('span', { class: 'l' }, t(labelKey)));
}

export async function render(view, ctx) {
  const d = await get('/api/v1/dashboard');
  if (!ctx.current()) return;
  const c = d.counts;
  const cut = d.cutoffs;
  const tiles = h('div', { class: 'tiles' },
    tile('total', c.total, 'dash.total', list({})),
    tile('agents_reporting', c.agents_reporting, 'dash.reporting', list({ agent: 'reporting' })),
    tile('agents_silent', c.agents_silent, 'dash.silent', list({ agent: 'silent' }), true),
    tile('new_this_week', c.new_this_week, 'dash.new', list({ first_seen_since: cut.new_since })),
    tile('unmanaged', c.unmanaged, 'dash.unmanaged', list({ unmanaged: 'true' }), true),
    tile('stale', c.stale, 'dash.stale', list({ seen_before: cut.stale_before }), true));

  const siteTable = h('table', { id: 'by-site' },
    h('thead', {}, h('tr', {}, h('th', {}, t('col.entity')), h('th', {}, t('col.site')), h('th', { class: 'num' }, t('dash.assets')))),
    h('tbody', {}, d.by_site.map((r) => h('tr', {},
      h('td', {}, h('a', { href: list({ entity: r.entity_id }) }, r.entity)),
      h('td', {}, h('a', { href: list({ site: r.site }) }, r.site)),
      h('td', { class: 'num' }, h('a', { href: list({ site: r.site }), dataset: { site: r.site, value: r.count } }, number(r.count, lang())))))));

  const kinds = [...new Set(d.kinds_by_site.map((r) => r.kind))].sort();
  const perSite = new Map();
  for (const r of d.kinds_by_site) {
    if (!perSite.has(r.site)) perSite.set(r.site, new Map());
    perSite.get(r.site).set(r.kind, r.count);
  }
  const osItems = d.os.map((o) => ({
    label: o.key ?? t('dash.unknown'), value: o.count, href: o.key ? list({ os: o.key }) : null,
  }));
  if (d.os_other > 0) osItems.push({ label: t('dash.other'), value: d.os_other, color: '#7f8c8d' });

  mount(view,
    h('h1', {}, t('dash.title')),
    h('p', { class: 'muted' }, t('dash.explain', { silent: d.silent_after_days, stale: d.stale_after_days })),
    tiles,
    h('div', { class: 'row2' },
      h('section', { class: 'card' }, h('h2', {}, t('dash.by_kind')),
        bars(d.by_kind.map((k) => ({ label: k.key, value: k.count, href: list({ kind: k.key }) })), { title: t('dash.by_kind') })),
      h('section', { class: 'card' }, h('h2', {}, t('dash.os')), bars(osItems, { title: t('dash.os') }))),
    h('div', { class: 'row2' },
      h('section', { class: 'card' }, h('h2', {}, t('dash.kinds_by_site')),
        stacked([...perSite].map(([site, parts]) => ({ label: site, parts })), kinds,
          { title: t('dash.kinds_by_site'), href: (site, kind) => list({ site, kind }) })),
      h('section', { class: 'card scroll' }, h('h2', {}, t('dash.by_site')), siteTable)));
}
