// The bucket list: name, description, labels, latest version, platforms,
// version count, how many revoked and scheduled; filtered on the server
// (name or description), paginated.

import { get, packer } from '../api.js';
import { badge, h, labels, table } from '../dom.js';
import { bucketHref, filterForm, pager, versionHref, versionName } from './common.js';

// Buckets per page: each carries its latest version, platforms, ancestry
// roll-ups and counts, so a page of 25 answers in a few milliseconds
// (docs/performance.md) where the API's default of 100 takes four times as long.
const PAGE = 25;

function latestCell(b) {
  const v = b.latest_version;
  if (!v) return h('span', { class: 'muted' }, 'none');
  return h('span', {}, h('a', { href: versionHref(b.name, v.fingerprint) }, versionName(v)), ' ', badge(v.status));
}

function countCell(n, word) {
  const k = Number(n || 0);
  return k ? h('span', { class: `count ${word === 'revoked' ? 'bad' : 'warn'}` }, `${k} ${word}`) : h('span', { class: 'muted' }, '0');
}

export async function bucketsView(params, query) {
  const data = await get(packer('/buckets'), {
    filter: query.get('filter'),
    'pagination.page_size': PAGE,
    'pagination.next_page_token': query.get('page'),
  });
  const buckets = data.buckets || [];
  const filter = query.get('filter');
  return h('div', {},
    h('h1', {}, 'Buckets'),
    filterForm([{ name: 'filter', label: 'Filter buckets', type: 'search', placeholder: 'name or description' }], query),
    table([
      { title: 'Name', cell: (b) => h('a', { href: bucketHref(b.name) }, b.name) },
      { title: 'Description', cell: (b) => b.description || h('span', { class: 'muted' }, '—') },
      { title: 'Labels', cell: (b) => labels(b.labels) },
      { title: 'Latest', cell: latestCell },
      { title: 'Platforms', cell: (b) => (b.platforms || []).join(', ') || h('span', { class: 'muted' }, '—') },
      { title: 'Versions', cell: (b) => String(b.version_count) },
      { title: 'Revoked', cell: (b) => countCell(b.revoked_count, 'revoked') },
      { title: 'Scheduled', cell: (b) => countCell(b.scheduled_count, 'scheduled') },
    ], buckets, {
      caption: filter ? `Buckets whose name or description contains “${filter}”` : null,
      empty: filter ? `No bucket's name or description contains “${filter}”.` : 'No buckets yet: publish with Packer or imagegate import.',
    }),
    pager(data.pagination, query));
}
