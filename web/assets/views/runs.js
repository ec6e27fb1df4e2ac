// Runs: every server-side evaluation (run-task deliveries and POST
// /v1/scan), newest first, with its verdict, counts and result page.

import { badge, h, safeHref, table, when } from '../dom.js';
import { filterForm, optional, pager } from './common.js';

function counts(s) {
  if (!s) return '—';
  return `${s.fail} fail · ${s.warn} warn · ${s.info} info (${s.gated} gated of ${s.resources} resources, ${s.images} images)`;
}

function resultLink(r) {
  const href = r.result_url && safeHref(r.result_url);
  if (!href) return h('span', { class: 'muted' }, r.result_url ? r.result_url : 'expired');
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer' }, 'result');
}

export async function runsView(params, query) {
  const filters = filterForm([
    { name: 'organization', label: 'Organization' },
    { name: 'workspace', label: 'Workspace' },
    { name: 'since', label: 'Since', placeholder: '7d or 2026-12-01T00:00:00Z' },
  ], query);
  const data = await optional('/v1/runs', {
    organization: query.get('organization'),
    workspace: query.get('workspace'),
    since: query.get('since'),
    'pagination.next_page_token': query.get('page'),
  });
  if (data === null)
    return h('div', {}, h('h1', {}, 'Runs'),
      h('p', { class: 'notice' }, 'This imagegate does not record runs (GET /v1/runs is not served).'));
  return h('div', {},
    h('h1', {}, 'Runs'),
    h('p', { class: 'muted' }, 'Run-task evaluations and POST /v1/scan calls that named a workspace, newest first.'),
    filters,
    table([
      { title: 'When', cell: (r) => when(r.evaluated_at) },
      { title: 'Organization', cell: (r) => r.organization || '—' },
      { title: 'Workspace', cell: (r) => r.workspace || '—' },
      { title: 'Run', cell: (r) => h('code', { class: 'wrap' }, r.run_id || r.id) },
      { title: 'Stage', cell: (r) => `${r.stage || '—'}${r.source === 'scan' ? ' (scan)' : ''}` },
      { title: 'Verdict', cell: (r) => badge(r.verdict) },
      { title: 'Findings', cell: (r) => h('span', { title: r.message || '' }, counts(r.summary)) },
      { title: 'Result', cell: resultLink },
    ], data.runs || [], { empty: 'No runs recorded.' }),
    pager(data.pagination, query));
}
