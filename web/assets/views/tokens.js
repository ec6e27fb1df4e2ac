// API tokens (admin): list, create (the secret is shown once), revoke.

import { call, can, get, seg, session } from '../api.js';
import { confirmDialog, noticeDialog } from '../dialog.js';
import { h, table, when } from '../dom.js';
import { render } from '../router.js';
import { act } from './common.js';

function revokeButton(t, out) {
  const b = h('button', { type: 'button', class: 'danger small' }, 'Revoke');
  b.addEventListener('click', async () => {
    const self = t.name === session.who.name;
    const ok = await confirmDialog({
      title: `Revoke token ${t.name}?`,
      body: h('p', {}, 'Every client using it is refused at once, and its OAuth2 access tokens die with it.',
        self ? ' This is the token you are signed in with: you will be signed out.' : ''),
      confirm: 'Revoke token', danger: true, typed: t.name,
    });
    if (ok) await act(b, out, async () => {
      await call('DELETE', `/v1/tokens/${seg(t.name)}`);
      render();
    });
  });
  return b;
}

function createForm() {
  const name = h('input', { id: 'token-name', name: 'name', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9._-]{1,64}' });
  const role = h('select', { id: 'token-role', name: 'role' }, ['read', 'write', 'admin'].map((r) => h('option', { value: r }, r)));
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Create token');
  return h('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      act(button, out, async () => {
        const t = (await call('POST', '/v1/tokens', { body: { name: name.value.trim(), role: role.value } })).token;
        const secret = h('input', { type: 'text', readonly: true, value: t.secret, class: 'secret', 'aria-label': 'the new secret' });
        await noticeDialog({
          title: `Token ${t.name} (${t.role}) created`,
          body: [h('p', {}, 'Copy the secret now: it is shown only this once, and imagegate keeps only its hash.'), secret],
        });
        render();
      });
    },
  },
  h('span', { class: 'field' }, h('label', { for: 'token-name' }, 'Name'), name),
  h('span', { class: 'field' }, h('label', { for: 'token-role' }, 'Role'), role),
  button, out);
}

export async function tokensView() {
  if (!can('admin'))
    return h('div', {}, h('h1', {}, 'API tokens'), h('p', { class: 'notice' }, 'Tokens are managed with an admin token.'));
  const data = await get('/v1/tokens', { 'pagination.page_size': 1000 });
  const out = h('div', { 'aria-live': 'polite' });
  return h('div', {},
    h('h1', {}, 'API tokens'),
    h('section', { 'aria-labelledby': 's-new' }, h('h2', { id: 's-new' }, 'New token'), createForm()),
    h('section', { 'aria-labelledby': 's-tokens' }, h('h2', { id: 's-tokens' }, 'Tokens'),
      table([
        { title: 'Name', cell: (t) => t.name },
        { title: 'Role', cell: (t) => t.role },
        { title: 'Created by', cell: (t) => t.created_by || '—' },
        { title: 'Created', cell: (t) => when(t.created_at) },
        { title: 'Last used', cell: (t) => when(t.last_used_at) },
        { title: 'Actions', cell: (t) => revokeButton(t, out) },
      ], data.tokens || [], { empty: 'No tokens.' }), out));
}
