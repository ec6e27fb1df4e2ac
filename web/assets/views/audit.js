// The audit trail (admin): every change with its time and author, newest
// first, filtered by bucket, author and time.

import { can, get } from '../api.js';
import { h, table, when } from '../dom.js';
import { bucketHref, filterForm, pager } from './common.js';

function detail(d) {
  if (d === null || d === undefined) return h('span', { class: 'muted' }, '—');
  const text = JSON.stringify(d);
  return text.length <= 80
    ? h('code', { class: 'wrap' }, text)
    : h('details', {}, h('summary', {}, `${text.slice(0, 60)}…`), h('pre', {}, JSON.stringify(d, null, 2)));
}

export async function auditView(params, query) {
  if (!can('admin'))
    return h('div', {}, h('h1', {}, 'Audit trail'), h('p', { class: 'notice' }, 'The audit trail needs an admin token.'));
  const data = await get('/v1/audit', {
    bucket: query.get('bucket'),
    author: query.get('author'),
    since: query.get('since'),
    until: query.get('until'),
    order: 'newest',
    'pagination.next_page_token': query.get('page'),
  });
  return h('div', {},
    h('h1', {}, 'Audit trail'),
    filterForm([
      { name: 'bucket', label: 'Bucket' },
      { name: 'author', label: 'Author' },
      { name: 'since', label: 'Since', placeholder: '24h or 2026-12-01T00:00:00Z' },
      { name: 'until', label: 'Until', placeholder: '2026-12-06T00:00:00Z' },
    ], query),
    table([
      { title: 'When', cell: (e) => when(e.at) },
      { title: 'Author', cell: (e) => e.author },
      { title: 'Action', cell: (e) => h('code', {}, e.action) },
      { title: 'Bucket', cell: (e) => (e.bucket ? h('a', { href: bucketHref(e.bucket) }, e.bucket) : '—') },
      { title: 'Target', cell: (e) => e.target || '—' },
      { title: 'Detail', cell: (e) => detail(e.detail) },
    ], data.entries || [], { empty: 'No entries match.' }),
    pager(data.pagination, query));
}
