// Sign in: paste an API token (imagegate token create). It is kept for this
// tab only; the page stays where it was, so a deep link works after
// signing in.

import { signIn } from '../api.js';
import { describe, h } from '../dom.js';

export function signInView(message, done) {
  const input = h('input', {
    type: 'password', id: 'token', name: 'token', required: true,
    autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help',
  });
  const status = h('div', { role: 'alert', class: message ? 'notice' : null }, message || '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', {
    class: 'signin',
    onsubmit: async (e) => {
      e.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      button.disabled = true;
      status.className = '';
      status.textContent = 'Checking the token…';
      try {
        await signIn(token);
        input.value = '';
        done();
      } catch (err) {
        status.className = 'error';
        status.textContent = `The token was not accepted: ${describe(err)}`;
        button.disabled = false;
        input.select();
      }
    },
  },
  h('h1', {}, 'Sign in to imagegate'),
  h('p', {}, h('label', { for: 'token' }, 'API token'), input),
  h('p', { id: 'token-help', class: 'muted' },
    'An API token from ', h('code', {}, 'imagegate token create'),
    '. It stays in this browser tab only and is forgotten when you sign out or close the tab.'),
  h('p', {}, button),
  status);
  queueMicrotask(() => input.focus());
  return form;
}
