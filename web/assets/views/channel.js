// A channel: what it holds now and its history (set, unset, rollback),
// newest first, each entry with the status its version has now.

import { get, packer, seg } from '../api.js';
import { badge, facts, h, section, table, when } from '../dom.js';
import { bucketHref, pager, versionHref, versionName } from './common.js';

const ACTIONS = {
  set: 'assigned',
  unset: 'unassigned',
  rollback: 'rolled back (revocation)',
};

function versionCell(bucket, v, name) {
  if (!v && !name) return h('span', { class: 'muted' }, 'empty');
  if (!v || !v.fingerprint) return name;
  return h('span', {},
    h('a', { href: versionHref(bucket, v.fingerprint) }, name || versionName(v)),
    v.status ? [' ', badge(v.status)] : ' (deleted since)');
}

export async function channelView({ bucket, channel }, query) {
  const base = packer(`/buckets/${seg(bucket)}/channels/${seg(channel)}`);
  const [info, hist] = await Promise.all([
    get(base),
    get(`${base}/history`, { 'pagination.next_page_token': query.get('page') }),
  ]);
  const c = info.channel;
  const entries = hist.history || [];
  return h('div', {},
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/ui/buckets' }, 'Buckets'), ' / ', h('a', { href: bucketHref(bucket) }, bucket), ' / channels / ', channel),
    h('h1', {}, `Channel ${c.name} of ${bucket}`),
    facts([
      ['Holds', versionCell(bucket, c.version, c.version && versionName(c.version))],
      ['Kind', c.managed ? 'managed (the latest valid version, computed)' : c.restricted ? 'restricted' : 'user'],
      ['Updated', when(c.updated_at)],
      ['By', c.author_id || '—'],
    ]),
    section('History',
      table([
        { title: 'When', cell: (e) => when(e.assigned_at) },
        { title: 'Change', cell: (e) => h('span', { class: `action ${e.action}` }, ACTIONS[e.action] || e.action) },
        { title: 'Version', cell: (e) => versionCell(bucket, e.version, e.version_name) },
        { title: 'By', cell: (e) => e.author_id },
      ], entries, { empty: c.managed ? 'latest is computed: it has no history.' : 'No history.' }),
      pager(hist.pagination, query)));
}
