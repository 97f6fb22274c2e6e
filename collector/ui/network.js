// Network view: subnets (GET /api/v1/subnets), and for one subnet its last sweeps (what
// answered and how), hosts found per sweep over time, a sweep started from here (run by an
// agent of the site) and the devices whose addresses fall in it.

import { api, get, query } from './api.js';
import { h, mount, number, when } from './dom.js';
import { lang, t } from './i18n.js';
import { timeline } from './charts.js';

const items = (r) => (Array.isArray(r) ? r : r?.items || []);
const POLL_MS = 1000;

function subnetList(subnets) {
  return h('div', { class: 'scroll' }, h('table', { id: 'subnets' },
    h('thead', {}, h('tr', {}, ['net.cidr', 'net.name', 'col.site', 'col.entity'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, subnets.map((s) => h('tr', {},
      h('td', {}, h('a', { href: `#/network/${s.id}` }, s.cidr)), h('td', {}, s.name || '—'),
      h('td', {}, s.site ?? s.site_name ?? s.site_id), h('td', {}, s.entity ?? s.entity_name ?? '—'))))));
}

function hostsTable(hosts) {
  return h('table', { class: 'sweep-hosts' },
    h('thead', {}, h('tr', {}, ['net.address', 'col.mac_addresses', 'net.vendor', 'col.name', 'net.methods', 'net.ports', 'net.rtt'].map((k) => h('th', {}, t(k))))),
    h('tbody', {}, hosts.map((x) => h('tr', { dataset: { address: x.address } },
      h('td', {}, x.asset_id ? h('a', { href: `#/assets/${x.asset_id}` }, x.address) : x.address),
      h('td', {}, x.mac || '—'), h('td', {}, x.vendor || '—'), h('td', {}, x.name || '—'),
      h('td', {}, (x.methods || []).map((m) => h('span', { class: 'tag' }, typeof m === 'string' ? m : JSON.stringify(m)))),
      h('td', {}, (x.open_ports || []).join(', ') || '—'),
      h('td', {}, typeof x.rtt_us === 'number' ? `${(x.rtt_us / 1000).toFixed(2)} ms` : '—')))));
}

/** Shows one sweep job; polls it while it is queued or running. */
async function showJob(box, id, ctx) {
  for (;;) {
    const job = await get(`/api/v1/sweeps/${id}`);
    if (!ctx.current()) return;
    const done = !['queued', 'running'].includes(job.state);
    mount(box, h('h3', {}, t('net.sweep_n', { id })),
      h('p', { id: 'sweep-state', dataset: { state: job.state } },
        t(`job.${job.state}`), job.error ? h('span', { class: 'error' }, ` — ${job.error}`) : '',
        done && typeof job.hosts_found === 'number' ? ` · ${t('net.hosts_found', { n: job.hosts_found })}` : ''),
      done ? hostsTable(items(job.hosts)) : null);
    if (done) return;
    await new Promise((r) => { setTimeout(r, POLL_MS); });
  }
}

async function subnetPage(view, ctx, subnet) {
  const [sweeps, devices] = await Promise.all([
    get(`/api/v1/sweeps${query({ subnet: subnet.id, limit: 30 })}`),
    get(`/api/v1/subnets/${subnet.id}/devices${query({ limit: 100 })}`),
  ]);
  if (!ctx.current()) return;
  const list = items(sweeps);
  const job = h('div', { id: 'sweep-job' });
  let form = null;
  if (ctx.session.can('technician', subnet.entity_id)) {
    const targets = h('input', { id: 'sweep-targets', name: 'targets', value: subnet.cidr, required: true });
    const msg = h('span', { role: 'status', class: 'error' });
    form = h('form', { class: 'inline', id: 'sweep-form' },
      h('label', {}, t('net.targets'), targets),
      h('button', { type: 'submit', class: 'primary', id: 'sweep-start' }, t('net.start')), msg);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      msg.textContent = '';
      try {
        const r = await api('POST', '/api/v1/sweeps', {
          site_id: subnet.site_id, targets: targets.value.split(/[\s,]+/).filter(Boolean),
        });
        showJob(job, r.id, ctx).catch((err) => { msg.textContent = err.message; });
      } catch (err) { msg.textContent = err.message; }
    });
  }
  const points = list.filter((s) => typeof s.hosts_found === 'number')
    .map((s) => ({ t: new Date(s.finished_at || s.at), value: s.hosts_found }))
    .filter((p) => !Number.isNaN(p.t.getTime()))
    .sort((a, b) => a.t - b.t);
  const dev = items(devices);
  mount(view,
    h('p', {}, h('a', { href: '#/network' }, `← ${t('nav.network')}`)),
    h('h1', {}, subnet.cidr, subnet.name ? ` · ${subnet.name}` : ''),
    h('div', { class: 'row2' },
      h('section', { class: 'card' }, h('h2', {}, t('net.start_title')), form || h('p', { class: 'muted' }, t('net.no_right')), job),
      h('section', { class: 'card' }, h('h2', {}, t('net.per_sweep')), timeline(points, { title: t('net.per_sweep') }))),
    h('section', { class: 'card' }, h('h2', {}, t('net.last_sweeps')),
      list.length ? h('div', { class: 'scroll' }, h('table', { id: 'sweeps' },
        h('thead', {}, h('tr', {}, ['net.when', 'net.state', 'net.agent', 'net.targets', 'net.hosts'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, list.map((s) => h('tr', {},
          h('td', {}, when(s.finished_at || s.at, lang())),
          h('td', {}, s.kind === 'scheduled' ? t('net.scheduled') : t(`job.${s.state}`)),
          h('td', {}, s.agent_id || '—'),
          h('td', {}, (s.targets || []).join(', ') || '—'),
          h('td', {}, s.id ? h('a', { href: '#', onclick: (e) => { e.preventDefault(); showJob(job, s.id, ctx); } }, number(s.hosts_found ?? 0, lang())) : number(s.hosts_found ?? 0, lang())))))))
        : h('p', { class: 'muted' }, t('net.no_sweeps'))),
    h('section', { class: 'card' }, h('h2', {}, `${t('net.devices')} (${number(devices?.total ?? dev.length, lang())})`),
      h('div', { class: 'scroll' }, h('table', { id: 'devices' },
        h('thead', {}, h('tr', {}, ['col.name', 'col.kind', 'col.ip_addresses', 'col.manufacturer', 'col.last_seen'].map((k) => h('th', {}, t(k))))),
        h('tbody', {}, dev.map((a) => h('tr', {},
          h('td', {}, h('a', { href: `#/assets/${a.asset_id}` }, a.name || `#${a.asset_id}`),
            a.managed ? null : h('span', { class: 'tag' }, t('dash.unmanaged'))), h('td', {}, a.kind),
          h('td', {}, (a.addresses || []).join(', ')), h('td', {}, a.manufacturer || '—'),
          h('td', {}, when(a.last_seen, lang())))))))));
}

export async function render(view, ctx) {
  const subnets = items(await get('/api/v1/subnets'));
  if (!ctx.current()) return;
  if (ctx.subnet) {
    const subnet = subnets.find((s) => s.id === ctx.subnet);
    if (!subnet) { mount(view, h('p', { class: 'error' }, t('net.no_subnet'))); return; }
    await subnetPage(view, ctx, subnet);
    return;
  }
  mount(view, h('h1', {}, t('nav.network')),
    subnets.length ? subnetList(subnets) : h('p', { class: 'muted' }, t('net.no_subnets')));
}
