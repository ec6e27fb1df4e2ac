// Confirmations in a modal <dialog>: focus moves into it, Escape cancels,
// Tab stays inside (the browser's modal dialog does all three). A
// dangerous action may ask for its target's name to be typed first.

import { h } from './dom.js';

// Shows title and body (nodes); resolves true when confirmed. typed: the
// text the user must type before the confirm button works.
export function confirmDialog({ title, body, confirm = 'Confirm', danger = false, typed = null }) {
  return new Promise((resolve) => {
    const input = typed
      ? h('input', { type: 'text', id: 'confirm-typed', autocomplete: 'off', spellcheck: 'false' })
      : null;
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', disabled: !!typed }, confirm);
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', { id: 'dialog-title' }, title),
      h('div', { class: 'dialog-body' }, body),
      typed ? h('p', {}, h('label', { for: 'confirm-typed' }, 'Type ', h('code', {}, typed), ' to confirm'), input) : null,
      h('div', { class: 'actions' }, cancel, ok));
    const dlg = h('dialog', { 'aria-labelledby': 'dialog-title' }, form);
    let answer = false;
    if (input) input.addEventListener('input', () => (ok.disabled = input.value !== typed));
    form.addEventListener('submit', (e) => {
      if (typed && input.value !== typed) {
        e.preventDefault();
        return;
      }
      answer = true;
    });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve(answer);
    });
    document.body.append(dlg);
    dlg.showModal();
    (input || ok).focus();
  });
}

// A message the user must acknowledge (a token's secret, shown once).
export function noticeDialog({ title, body, close = 'Done' }) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-labelledby': 'dialog-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, title),
        h('div', { class: 'dialog-body' }, body),
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, close))));
    dlg.addEventListener('close', () => {
      dlg.remove();
      resolve();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}
