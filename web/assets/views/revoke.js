// Revoke (now, at a time, or after a delay) and restore, each confirmed
// after showing what will happen. The preview is the server's own dry run
// ("dry_run": true in the version PATCH: the revocation run and rolled
// back), so what the dialog lists is exactly what the revocation does.

import { call, hasFeature, versionPath } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { h, utcText, when } from '../dom.js';
import { act, versionName } from './common.js';

function radio(name, value, label, checked) {
  const id = `${name}-${value}`;
  return h('span', { class: 'choice' },
    h('input', { type: 'radio', id, name, value, checked }), h('label', { for: id }, label));
}

function checkbox(id, label) {
  return h('span', { class: 'choice' }, h('input', { type: 'checkbox', id, name: id }), h('label', { for: id }, label));
}

// The PATCH body the form asks for, or throws with what is missing.
function revokeBody(form) {
  const el = form.elements;
  const how = el.when.value;
  const body = {};
  if (how === 'now') body.revoke_in = '0s';
  if (how === 'at') {
    if (!el.at.value) throw new Error('choose the date and time of the revocation');
    body.revoke_at = new Date(el.at.value).toISOString(); // the viewer's zone, sent in UTC
  }
  if (how === 'in') {
    if (!/^\d+[smhd]$/.test(el.in.value.trim())) throw new Error('the delay is a number and a unit: 30d, 12h, 45m');
    body.revoke_in = el.in.value.trim();
  }
  if (el.message.value.trim()) body.revocation_message = el.message.value.trim();
  if (el.skip.checked) body.skip_descendants_revocation = true;
  if (el.keep.checked) body.disable_rollback_channels = true;
  return body;
}

function list(items, empty) {
  return items.length ? h('ul', { class: 'plain' }, items.map((x) => h('li', {}, x))) : h('p', { class: 'muted' }, empty);
}

function previewNodes(plan, body, holding) {
  if (!plan)
    return [
      h('p', { class: 'notice' }, 'This imagegate cannot preview a revocation (it has no dry run). Channels holding this version now: ',
        holding.length ? holding.join(', ') : 'none', '.'),
    ];
  return [
    h('h3', {}, 'Versions that inherit the revocation'),
    list((plan.inherits || []).map((x) => `${x.bucket} ${x.version}`), 'None.'),
    h('h3', {}, 'Channels that roll back'),
    list((plan.channels || []).map((c) => `${c.bucket} / ${c.channel}: ${c.from || '—'} → ${c.to ? c.to : 'emptied'}`),
      body.revoke_in === '0s' ? 'None.' : 'None: a scheduled revocation rolls nothing back.'),
    h('h3', {}, 'Workspaces that used it in the last 30 days'),
    list((plan.workspaces || []).map((w) => h('span', {}, `${w.organization ? w.organization + '/' : ''}${w.workspace} (${w.bucket} ${w.version}, last seen `, when(w.last_seen), ')')), 'None recorded.'),
  ];
}

function summary(bucket, v, body) {
  const name = `${bucket} ${versionName(v)}`;
  if (body.revoke_in === '0s') return `Revoke ${name} now.`;
  if (body.revoke_at) return `Schedule the revocation of ${name} for ${new Date(body.revoke_at).toLocaleString()} (${utcText(new Date(body.revoke_at))}).`;
  return `Schedule the revocation of ${name} in ${body.revoke_in}.`;
}

async function review(bucket, v, form, holding, done) {
  const body = revokeBody(form);
  const plan = hasFeature('revocation_dry_run')
    ? await call('PATCH', versionPath(bucket, v.fingerprint), { body: { ...body, dry_run: true } })
    : null;
  const ok = await confirmDialog({
    title: body.revoke_in === '0s' ? 'Revoke now?' : 'Schedule the revocation?',
    body: [h('p', {}, summary(bucket, v, body)), previewNodes(plan, body, holding)],
    confirm: body.revoke_in === '0s' ? 'Revoke' : 'Schedule',
    danger: true,
  });
  if (!ok) return;
  await call('PATCH', versionPath(bucket, v.fingerprint), { body });
  done();
}

export function revokeSection(bucket, v, done, holding = []) {
  const own = (v.revocations || []).some((r) => r.type === 'MANUAL');
  if (own || !['VERSION_ACTIVE', 'VERSION_REVOCATION_SCHEDULED'].includes(v.status)) return null;
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'danger' }, 'Revoke…');
  const form = h('form', {
    class: 'revoke',
    onsubmit: (e) => {
      e.preventDefault();
      act(button, out, () => review(bucket, v, form, holding, done));
    },
  },
  h('h3', {}, 'Revoke'),
  h('fieldset', {}, h('legend', {}, 'When'),
    radio('when', 'now', 'Now', true),
    radio('when', 'at', 'At', false), h('label', { for: 'revoke-at', class: 'sr-only' }, 'Date and time'), h('input', { type: 'datetime-local', id: 'revoke-at', name: 'at' }),
    radio('when', 'in', 'In', false), h('label', { for: 'revoke-in', class: 'sr-only' }, 'Delay'), h('input', { type: 'text', id: 'revoke-in', name: 'in', placeholder: '30d', size: 6 })),
  h('p', {}, h('label', { for: 'revoke-message' }, 'Message'), h('input', { type: 'text', id: 'revoke-message', name: 'message', maxlength: 255, placeholder: 'CVE-2026-1234 in openssl' })),
  h('p', {}, checkbox('skip', 'Do not revoke the versions built from it'), checkbox('keep', 'Keep channels (no rollback)')),
  h('p', {}, button), out);
  return form;
}

export function restoreSection(bucket, v, children, done) {
  const own = (v.revocations || []).find((r) => r.type === 'MANUAL');
  if (!own) return null;
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'primary' }, own && v.status === 'VERSION_REVOCATION_SCHEDULED' ? 'Cancel the scheduled revocation…' : 'Restore…');
  button.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Restore ${bucket} ${versionName(v)}?`,
      body: [
        h('p', {}, 'Removes this version’s own revocation and the inherited revocations it passed on to the versions built from it. Channels are not re-assigned: a channel that rolled back stays where it is.'),
        children.length ? [h('h3', {}, 'Built from it (latest versions)'), list(children.map((r) => `${r.child.bucket_name} ${r.child.version_name}`), '')] : null,
      ],
      confirm: 'Restore',
    });
    if (ok) await act(button, out, async () => {
      await call('PATCH', versionPath(bucket, v.fingerprint), { body: { restore: true } });
      done();
    });
  });
  return h('div', {}, h('h3', {}, 'Restore'), button, out);
}
