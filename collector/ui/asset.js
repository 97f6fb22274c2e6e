// One asset: identity, facts, NICs and where they plug in, software (searched in the page),
// sources and why they merged, history, manual fields (technicians) and merge/split (admins).

import { api, get } from './api.js';
import { h, mount, number, when } from './dom.js';
import { lang, t } from './i18n.js';

const STATES = ['in_use', 'in_stock', 'in_repair', 'retired'];

function bytes(n) {
  if (typeof n !== 'number') return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toLocaleString(lang(), { maximumFractionDigits: 1 })} ${units[i]}`;
}

function hwId(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  return v.value ?? v.raw ?? JSON.stringify(v);
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => [h('dt', {}, t(k)), h('dd', {}, v)]));
}

function section(title, ...body) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...body);
}

function identity(a) {
  const hw = a.hardware || {};
  return section(t('asset.identity'), facts([
    ['col.kind', a.kind],
    ['col.entity', a.entity],
    ['col.site', a.site],
    ['col.serial', a.serial ?? hwId(hw.serial)],
    ['col.uuid', a.uuid ?? hwId(hw.uuid)],
    ['col.manufacturer', a.manufacturer ?? hw.manufacturer],
    ['col.model', a.model ?? hw.model],
    ['asset.chassis', hw.chassis],
    ['asset.firmware', a.firmware],
    ['asset.state', a.lifecycle ? `${t(`state.${a.lifecycle.state}`)} (${when(a.lifecycle.since, lang())})` : null],
    ['col.first_seen', when(a.first_seen, lang())],
    ['col.last_seen', when(a.last_seen, lang())],
  ]));
}

function hardware(a) {
  const os = a.os || {};
  const cpu = (a.cpus || [])[0];
  return section(t('asset.facts'), facts([
    ['col.os', os.pretty_name || [os.name, os.version].filter(Boolean).join(' ') || a.os_summary],
    ['asset.kernel', os.kernel],
    ['asset.arch', os.arch],
    ['asset.cpu', cpu ? `${cpu.model || cpu.vendor || ''} · ${cpu.cores} × ${cpu.threads / (cpu.cores || 1)} (${(a.cpus || []).length})` : null],
    ['asset.memory', a.memory ? bytes(a.memory.total_bytes) : null],
    ['asset.disks', (a.disks || []).map((d) => `${d.name} ${bytes(d.size_bytes)}${d.model ? ` (${d.model})` : ''}`).join(', ') || null],
    ['asset.filesystems', (a.filesystems || []).map((f) => `${f.mount_point} ${bytes(f.free_bytes)} / ${bytes(f.total_bytes)}`).join(', ') || null],
    ['asset.host', a.host ? a.host.fqdn || a.host.hostname : null],
  ]));
}

function network(a) {
  const plugged = a.plugged_into;
  const nics = a.network_interfaces || [];
  return section(t('asset.network'),
    plugged ? h('p', { id: 'plugged-into' }, t('asset.plugged'), ' ',
      h('a', { href: `#/assets/${plugged.switch_id}` }, plugged.switch_name || `#${plugged.switch_id}`),
      ` · ${t('asset.port')} ${plugged.port}`, plugged.vlan ? ` · VLAN ${plugged.vlan}` : '',
      h('span', { class: 'muted' }, ` (${when(plugged.seen_at, lang())})`)) : null,
    nics.length ? h('div', { class: 'scroll' }, h('table', { id: 'nics' },
      h('thead', {}, h('tr', {}, ['asset.nic', 'col.mac_addresses', 'col.ip_addresses', 'asset.speed', 'asset.nic_state'].map((k) => h('th', {}, t(k))))),
      h('tbody', {}, nics.map((n) => h('tr', {},
        h('td', {}, n.name, n.is_virtual ? h('span', { class: 'tag' }, t('asset.virtual')) : null),
        h('td', {}, n.mac || '—'),
        h('td', {}, (n.addresses || []).join(', ') || '—'),
        h('td', {}, n.speed_mbps ? `${n.speed_mbps} Mb/s` : '—'),
        h('td', {}, n.state)))))) :
      facts([['col.ip_addresses', (a.ip_addresses || []).join(', ')], ['col.mac_addresses', (a.mac_addresses || []).join(', ')]]),
    (a.links || []).length ? h('p', {}, t('asset.links'), ' ', a.links.map((l) => h('span', { class: 'tag' },
      `${l.port || '?'} → `, h('a', { href: `#/assets/${l.neighbor_id}` }, l.neighbor_name || `#${l.neighbor_id}`), ` ${l.remote_port || ''} (${l.protocol})`))) : null);
}

function software(a) {
  const all = a.software || [];
  const body = h('tbody');
  const count = h('span', { class: 'muted', id: 'software-count' });
  const draw = (q) => {
    const needle = q.trim().toLowerCase();
    const shown = needle ? all.filter((s) => `${s.name} ${s.publisher || ''}`.toLowerCase().includes(needle)) : all;
    // Rows are drawn on demand, at most 200, so a server with thousands of packages stays fast.
    mount(body, shown.slice(0, 200).map((s) => h('tr', {},
      h('td', {}, s.name), h('td', {}, s.version || '—'), h('td', { class: 'hide-narrow' }, s.publisher || '—'),
      h('td', { class: 'hide-narrow' }, s.source))));
    count.textContent = t('asset.software_count', { shown: Math.min(200, shown.length), total: shown.length });
  };
  const search = h('input', { type: 'search', id: 'software-search', placeholder: t('asset.software_search'), oninput: (e) => draw(e.target.value) });
  draw('');
  return section(`${t('asset.software')} (${number(all.length, lang())})`, h('div', { class: 'toolbar' }, search, count),
    h('div', { class: 'scroll' }, h('table', { id: 'software' },
      h('thead', {}, h('tr', {}, h('th', {}, t('asset.sw_name')), h('th', {}, t('asset.sw_version')),
        h('th', { class: 'hide-narrow' }, t('asset.sw_publisher')), h('th', { class: 'hide-narrow' }, t('asset.sw_source')))), body)));
}

function keys(matched) {
  if (!matched) return null;
  if (Array.isArray(matched)) return matched.map((k) => h('span', { class: 'tag' }, typeof k === 'string' ? k : `${k.key ?? k.kind}: ${k.value ?? ''}`));
  if (typeof matched === 'object') return Object.entries(matched).map(([k, v]) => h('span', { class: 'tag' }, `${k}: ${v}`));
  return String(matched);
}

function sources(a, ctx, reload) {
  const admin = ctx.session.can('admin', a.entity_id);
  const picked = new Set();
  const rows = (a.sources || []).map((s) => h('tr', {},
    admin && s.id !== undefined ? h('td', {}, h('input', { type: 'checkbox', 'aria-label': t('asset.split_pick'), onchange: (e) => (e.target.checked ? picked.add(s.id) : picked.delete(s.id)) })) : null,
    h('td', {}, s.kind), h('td', { class: 'hide-narrow' }, s.agent_id), h('td', {}, s.rule), h('td', {}, keys(s.matched_keys)),
    h('td', {}, when(s.last_seen, lang()))));
  const conflicts = (a.conflicts || []).length ? h('div', { class: 'error' }, h('strong', {}, t('asset.conflicts')),
    h('ul', {}, a.conflicts.map((c) => h('li', {}, `${c.field}: ${c.locked ?? c.manual ?? ''} ≠ ${c.observed ?? c.value ?? ''} (${c.source ?? ''})`)))) : null;
  let admin_tools = null;
  if (admin) {
    const msg = h('span', { role: 'status' });
    const other = h('input', { type: 'number', min: 1, id: 'merge-from', placeholder: t('asset.merge_from') });
    admin_tools = h('div', { class: 'toolbar' },
      h('button', { type: 'button', id: 'split', onclick: async () => {
        if (!picked.size) { msg.textContent = t('asset.split_none'); return; }
        try {
          const r = await api('POST', `/api/v1/assets/${a.id}/split`, { sources: [...picked] });
          location.hash = `#/assets/${r?.new_asset_id ?? r?.id ?? a.id}`;
        } catch (e) { msg.textContent = e.message; }
      } }, t('asset.split')),
      other,
      h('button', { type: 'button', id: 'merge', onclick: async () => {
        const from = Number(other.value);
        if (!from || !window.confirm(t('asset.merge_confirm', { from, into: a.id }))) return;
        try { await api('POST', `/api/v1/assets/${a.id}/merge`, { from }); reload(); } catch (e) { msg.textContent = e.message; }
      } }, t('asset.merge')), msg);
  }
  return section(t('asset.sources'),
    h('p', { class: 'muted' }, t('asset.match_rule', { rule: a.match_rule })),
    h('div', { class: 'scroll' }, h('table', { id: 'sources' },
      h('thead', {}, h('tr', {}, admin ? h('th') : null, ['asset.src_kind', 'asset.src_agent', 'asset.src_rule', 'asset.src_keys', 'col.last_seen']
        .map((k) => h('th', { class: k === 'asset.src_agent' ? 'hide-narrow' : null }, t(k))))),
      h('tbody', {}, rows))),
    conflicts, admin_tools);
}

function manual(a, ctx, reload) {
  const m = a.manual || {};
  const editable = ctx.session.can('technician', a.entity_id);
  const shown = facts([
    ['manual.asset_tag', m.asset_tag], ['manual.owner', m.owner],
    ['manual.department', m.department?.name], ['manual.location', m.location?.name], ['manual.notes', m.notes],
  ]);
  if (!editable) return section(t('asset.manual'), shown);
  const input = (name, value) => h('label', {}, t(`manual.${name}`), h('input', { name, id: `m-${name}`, value: value ?? '' }));
  const state = h('select', { name: 'state', id: 'm-state' }, STATES.map((s) =>
    h('option', { value: s, selected: a.lifecycle?.state === s }, t(`state.${s}`))));
  const msg = h('span', { role: 'status', id: 'manual-status', class: ctx.flash ? 'ok' : null }, ctx.flash || '');
  const form = h('form', { class: 'inline', id: 'manual-form' },
    input('asset_tag', m.asset_tag), input('owner', m.owner),
    h('label', {}, t('asset.state'), state),
    h('label', {}, t('manual.notes'), h('textarea', { name: 'notes', id: 'm-notes', rows: 2 }, m.notes ?? '')),
    h('button', { type: 'submit', class: 'primary', id: 'manual-save' }, t('save')), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const patch = {};
    // Only what changed: an unchanged empty field must not lock a value.
    for (const k of ['asset_tag', 'owner', 'notes']) {
      const v = String(data.get(k)).trim();
      if (v !== (m[k] ?? '')) patch[k] = v === '' ? null : v;
    }
    if (data.get('state') !== a.lifecycle?.state) patch.state = data.get('state');
    if (!Object.keys(patch).length) return;
    try {
      await api('PATCH', `/api/v1/assets/${a.id}`, patch);
      reload(t('saved'));
    } catch (err) {
      msg.textContent = err.message;
      msg.className = 'error';
    }
  });
  return section(t('asset.manual'), form);
}

function history(items) {
  if (!items.length) return section(t('asset.history'), h('p', { class: 'muted' }, t('asset.no_history')));
  return section(t('asset.history'), h('ol', { class: 'timeline', id: 'history' }, items.slice().reverse().slice(0, 200).map((i) =>
    h('li', {}, h('span', { class: 'muted' }, `${when(i.changed_at, lang())} · ${i.actor || i.source}`), h('br'),
      h('strong', {}, i.field), ': ', i.old ?? '∅', ' → ', i.new ?? '∅'))));
}

export async function render(view, ctx) {
  const [a, hist] = await Promise.all([get(`/api/v1/assets/${ctx.id}`), get(`/api/v1/assets/${ctx.id}/history`)]);
  if (!ctx.current()) return;
  // Redrawn from the API after a change, with a word about it in the redrawn form.
  const reload = (flash) => render(view, { ...ctx, flash });
  mount(view,
    h('p', {}, h('a', { href: '#/assets' }, `← ${t('list.title')}`)),
    h('h1', { id: 'asset-name' }, a.name || `#${a.id}`, ' ', h('span', { class: 'tag' }, a.kind)),
    h('div', { class: 'row2' }, h('div', { class: 'stack' }, identity(a), manual(a, ctx, reload)), h('div', { class: 'stack' }, hardware(a), network(a))),
    h('div', { class: 'stack' }, software(a), sources(a, ctx, reload), history(hist.items || [])));
}
