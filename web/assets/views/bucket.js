// A bucket: its versions (status, the channels holding each), its channels
// (assign, unassign, history), its ancestry, and -- for admins -- delete.

import { bucketPath, call, can, get, packer, seg } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { badge, facts, h, labels, section, table, when } from '../dom.js';
import { go, render } from '../router.js';
import { act, bucketHref, pager, versionHref, versionName } from './common.js';

function channelHref(bucket, channel) {
  return `${bucketHref(bucket)}/channels/${encodeURIComponent(channel)}`;
}

// fingerprint -> [channel names] for the version list's chips.
function holders(channels) {
  const by = new Map();
  for (const c of channels) {
    const fp = c.version && c.version.fingerprint;
    if (!fp) continue;
    if (!by.has(fp)) by.set(fp, []);
    by.get(fp).push(c.name);
  }
  return by;
}

function versionsTable(bucket, versions, channels) {
  const by = holders(channels);
  return table([
    { title: 'Version', cell: (v) => h('a', { href: versionHref(bucket, v.fingerprint) }, versionName(v)) },
    { title: 'Status', cell: (v) => badge(v.status) },
    {
      title: 'Channels',
      cell: (v) => {
        const names = by.get(v.fingerprint) || [];
        return names.length
          ? h('ul', { class: 'chips' }, names.map((n) => h('li', { class: 'chip' }, h('a', { href: channelHref(bucket, n) }, n))))
          : h('span', { class: 'muted' }, '—');
      },
    },
    { title: 'Fingerprint', cell: (v) => h('code', {}, v.fingerprint) },
    { title: 'Created', cell: (v) => when(v.created_at) },
    { title: 'Revoke at', cell: (v) => when(v.revoke_at) },
  ], versions, { empty: 'No versions yet.' });
}

function unassignButton(bucket, c, out) {
  const b = h('button', { type: 'button', class: 'secondary small' }, 'Unassign');
  b.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Unassign ${c.name}?`,
      body: h('p', {}, `Channel ${c.name} of ${bucket} will hold no version. Its history keeps the change.`),
      confirm: 'Unassign',
    });
    if (ok) await act(b, out, async () => {
      await call('PATCH', packer(`/buckets/${seg(bucket)}/channels/${seg(c.name)}`), { body: { version_fingerprint: '' } });
      render();
    });
  });
  return b;
}

function channelsTable(bucket, channels, out) {
  const cols = [
    { title: 'Channel', cell: (c) => h('a', { href: channelHref(bucket, c.name) }, c.name) },
    {
      title: 'Version',
      cell: (c) => (c.version
        ? h('span', {}, h('a', { href: versionHref(bucket, c.version.fingerprint) }, versionName(c.version)), ' ', badge(c.version.status))
        : h('span', { class: 'muted' }, 'empty')),
    },
    { title: 'Kind', cell: (c) => (c.managed ? 'managed' : c.restricted ? 'restricted' : 'user') },
    { title: 'Updated', cell: (c) => when(c.updated_at) },
    { title: 'By', cell: (c) => c.author_id || '—' },
  ];
  if (can('write'))
    cols.push({ title: 'Actions', cell: (c) => (!c.managed && c.version ? unassignButton(bucket, c, out) : '') });
  return table(cols, channels, { empty: 'No channels.' });
}

function assignForm(bucket, versions, channels) {
  const usable = versions.filter((v) => v.status === 'VERSION_ACTIVE' || v.status === 'VERSION_REVOCATION_SCHEDULED');
  const names = channels.filter((c) => !c.managed).map((c) => c.name);
  const channel = h('input', { id: 'assign-channel', name: 'channel', list: 'assign-channels', required: true, autocomplete: 'off', pattern: '[A-Za-z0-9][A-Za-z0-9_-]{0,35}' });
  const version = h('select', { id: 'assign-version', name: 'version', required: true },
    usable.map((v) => h('option', { value: v.fingerprint }, `${versionName(v)} (${v.fingerprint})`)));
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Assign');
  if (!usable.length) return h('p', { class: 'muted' }, 'No version on this page can be assigned (revoked and incomplete versions cannot).');
  return h('form', {
    class: 'inline',
    onsubmit: (e) => {
      e.preventDefault();
      act(button, out, async () => {
        await call('POST', packer(`/buckets/${seg(bucket)}/channels/assign`), {
          body: { target_channel: channel.value.trim(), version_fingerprint: version.value },
        });
        render();
      });
    },
  },
  h('datalist', { id: 'assign-channels' }, names.map((n) => h('option', { value: n }))),
  h('span', { class: 'field' }, h('label', { for: 'assign-channel' }, 'Channel'), channel),
  h('span', { class: 'field' }, h('label', { for: 'assign-version' }, 'Version'), version),
  button, out);
}

function relationList(rows, pick, empty) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('ul', { class: 'plain' }, rows.map((r) => {
    const v = pick(r);
    return h('li', {},
      h('a', { href: versionHref(v.bucket_name, v.version_fingerprint) }, `${v.bucket_name} ${v.version_name || v.version_fingerprint}`),
      r.parent && r.parent.channel_name ? ` (from channel ${r.parent.channel_name})` : '',
      ' ', badge(r.status));
  }));
}

function ancestrySection(bucket, relations) {
  const parents = relations.filter((r) => r.child.bucket_name === bucket);
  const children = relations.filter((r) => r.parent.bucket_name === bucket);
  return section('Ancestry',
    h('p', { class: 'muted' }, 'As HCP Packer shows it: the parents of the latest version, and the buckets whose latest version was built from one of this bucket’s. A version’s page lists its own parents.'),
    h('h3', {}, 'Parents'), relationList(parents, (r) => r.parent, 'No parents.'),
    h('h3', {}, 'Children'), relationList(children, (r) => r.child, 'No children.'));
}

function deleteSection(bucket) {
  const out = h('div', { 'aria-live': 'polite' });
  const b = h('button', { type: 'button', class: 'danger' }, 'Delete bucket…');
  b.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete bucket ${bucket}?`,
      body: h('p', {}, 'Every version, build, artifact and channel of this bucket is deleted. The audit trail keeps the deletion.'),
      confirm: 'Delete bucket', danger: true, typed: bucket,
    });
    if (ok) await act(b, out, async () => {
      await call('DELETE', bucketPath(bucket));
      go('/ui/buckets');
    });
  });
  return section('Danger zone', b, out);
}

export async function bucketView({ bucket }, query) {
  const [info, versions, channels, ancestry] = await Promise.all([
    get(bucketPath(bucket)),
    get(packer(`/buckets/${seg(bucket)}/versions`), { 'pagination.page_size': 25, 'pagination.next_page_token': query.get('page') }),
    get(packer(`/buckets/${seg(bucket)}/channels`), { 'pagination.page_size': 1000 }),
    get(packer(`/buckets/${seg(bucket)}/ancestry`), { 'pagination.page_size': 1000 }),
  ]);
  const b = info.bucket;
  const vs = versions.versions || [];
  const cs = channels.channels || [];
  const out = h('div', { 'aria-live': 'polite' });
  return h('div', {},
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/ui/buckets' }, 'Buckets'), ' / ', bucket),
    h('h1', {}, b.name),
    facts([
      ['Description', b.description || h('span', { class: 'muted' }, '—')],
      ['Labels', labels(b.labels)],
      ['Platforms', (b.platforms || []).join(', ') || '—'],
      ['Versions', `${b.version_count} (${b.revoked_count || 0} revoked, ${b.scheduled_count || 0} scheduled)`],
      ['Created', when(b.created_at)],
    ]),
    section('Versions', versionsTable(bucket, vs, cs), pager(versions.pagination, query)),
    section('Channels', channelsTable(bucket, cs, out), out, can('write') ? h('div', {}, h('h3', {}, 'Assign a version'), assignForm(bucket, vs, cs)) : null),
    ancestrySection(bucket, ancestry.relations || []),
    can('admin') ? deleteSection(bucket) : null);
}
