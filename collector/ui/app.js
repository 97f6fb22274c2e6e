// The page's entry point: session, language, the hash router and the header.
//
// Routes (after '#'): /login, / (dashboard), /assets?filters, /assets/ID, /network,
// /network/SUBNET_ID. Each page module exports `render(view, ctx)` and resolves once it has
// drawn what it fetched; the router then sets the "parc-rendered" performance mark and
// body[data-rendered], which the browser tests wait on and time.

import { api, setUnauthorizedHandler } from './api.js';
import { h, mount } from './dom.js';
import * as i18n from './i18n.js';
import { t } from './i18n.js';
import * as login from './login.js';
import * as dashboard from './dashboard.js';
import * as assets from './assets.js';
import * as asset from './asset.js';
import * as network from './network.js';
import { Session } from './session.js';

const view = document.getElementById('view');
let session = null;
let generation = 0;

function parse(hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?', 2);
  return { path, params: new URLSearchParams(qs || '') };
}

function pick(path) {
  if (path === '/login') return ['login', login, {}];
  if (path === '/' || path === '') return ['dashboard', dashboard, {}];
  if (path === '/assets') return ['assets', assets, {}];
  let m = path.match(/^\/assets\/(\d+)$/);
  if (m) return ['asset', asset, { id: Number(m[1]) }];
  if (path === '/network') return ['network', network, {}];
  m = path.match(/^\/network\/(\d+)$/);
  if (m) return ['network', network, { subnet: Number(m[1]) }];
  return null;
}

function header(active) {
  const top = document.getElementById('top');
  top.hidden = !session;
  if (!session) return;
  const link = (name, href, key) => h('a', { href, class: active === name ? 'active' : null }, t(key));
  mount(document.getElementById('nav'),
    link('dashboard', '#/', 'nav.dashboard'),
    link('assets', '#/assets', 'nav.assets'),
    link('network', '#/network', 'nav.network'));
  document.getElementById('who').textContent = session.me.display_name || session.me.login;
  document.getElementById('logout').textContent = t('nav.logout');
  document.getElementById('lang').value = i18n.lang();
}

async function route() {
  const mine = ++generation;
  const { path, params } = parse(location.hash);
  const found = pick(path);
  if (!found) { location.hash = '#/'; return; }
  const [name, page, args] = found;
  if (!session && name !== 'login') {
    session = await Session.load();
    if (!session) { toLogin(); return; }
  }
  header(name);
  document.body.dataset.rendered = '';
  const ctx = {
    session, params, ...args,
    // A page started before the latest navigation must not draw over the new one.
    current: () => mine === generation,
    loggedIn: (s) => { session = s; },
  };
  try {
    await page.render(view, ctx);
  } catch (e) {
    if (mine !== generation) return;
    mount(view, h('p', { class: 'error', role: 'alert' }, t('error.load', { message: e.message })));
  }
  if (mine !== generation) return;
  performance.mark('parc-rendered');
  document.body.dataset.rendered = name;
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
}

/** To the login page, which comes back here once logged in. */
function toLogin() {
  if (location.hash.startsWith('#/login')) return;
  const back = location.hash && location.hash !== '#/' ? location.hash : '';
  location.hash = `#/login${back ? `?next=${encodeURIComponent(back)}` : ''}`;
}

setUnauthorizedHandler(() => {
  session = null;
  toLogin();
});

document.getElementById('logout').addEventListener('click', async () => {
  try { await api('DELETE', '/api/v1/session'); } catch { /* gone already */ }
  session = null;
  location.hash = '#/login';
});

document.getElementById('lang').addEventListener('change', async (e) => {
  await i18n.setLanguage(e.target.value);
  route();
});

window.addEventListener('hashchange', route);
await i18n.init();
route();
