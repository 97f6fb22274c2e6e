// Login form: POST /api/v1/session sets the session cookie.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { t } from './i18n.js';
import { Session } from './session.js';

export async function render(view, ctx) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const login = h('input', { name: 'login', id: 'login', autocomplete: 'username', required: true });
  const password = h('input', {
    name: 'password', id: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const form = h('form', { class: 'login card', id: 'login-form' },
    h('h1', {}, 'Parc'),
    h('label', { for: 'login' }, t('login.login')), login,
    h('label', { for: 'password' }, t('login.password')), password,
    error,
    h('button', { type: 'submit', class: 'primary' }, t('login.submit')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      await api('POST', '/api/v1/session', { login: login.value, password: password.value });
      const session = await Session.load();
      ctx.loggedIn(session);
      location.hash = ctx.params.get('next') || '#/';
    } catch (err) {
      error.textContent = err.status === 401 ? t('login.refused') : t('error.load', { message: err.message });
      error.hidden = false;
    }
  });
  mount(view, form);
  login.focus();
}
