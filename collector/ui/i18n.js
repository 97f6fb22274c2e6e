// Dictionaries (en.json, fr.json beside this file). The language is the one kept from the last
// choice, else the browser's first one we have, else English.

const LANGS = ['en', 'fr'];
const KEY = 'parc.lang';
let dict = {};
let fallback = {};
let current = 'en';

export function chooseLanguage(stored, browser) {
  if (LANGS.includes(stored)) return stored;
  for (const tag of browser || []) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

async function load(lang) {
  const r = await fetch(new URL(`./${lang}.json`, import.meta.url));
  if (!r.ok) throw new Error(`dictionary ${lang}: ${r.status}`);
  return r.json();
}

export async function init() {
  let stored = null;
  try { stored = localStorage.getItem(KEY); } catch { /* storage disabled */ }
  current = chooseLanguage(stored, navigator.languages || [navigator.language]);
  [fallback, dict] = await Promise.all([load('en'), current === 'en' ? null : load(current)]);
  dict = dict || fallback;
  document.documentElement.lang = current;
}

export async function setLanguage(lang) {
  if (!LANGS.includes(lang)) return;
  try { localStorage.setItem(KEY, lang); } catch { /* kept for this page only */ }
  current = lang;
  dict = lang === 'en' ? fallback : await load(lang);
  document.documentElement.lang = lang;
}

export function lang() { return current; }

/** t('dash.assets', {n: 3}): the text for `key`, with {name} placeholders filled. */
export function t(key, vars) {
  let text = dict[key] ?? fallback[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}
