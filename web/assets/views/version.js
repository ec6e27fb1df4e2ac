// A version: its revocation banner, builds per platform with artifacts per
// region, parents and children, SBOMs and packages, who used it, and --
// for admins -- revoke (now or scheduled), restore and delete, each
// confirmed after showing what it will do.

import { call, can, get, packer, seg, versionPath } from '../api.js';
import { confirmDialog } from '../dialog.js';
import { badge, facts, h, labels, safeHref, section, table, when } from '../dom.js';
import { go, render } from '../router.js';
import { act, bucketHref, optional, versionHref, versionName } from './common.js';
import { revokeSection, restoreSection } from './revoke.js';

function banner(v) {
  if (!v.revoke_at) return null;
  const revoked = v.status === 'VERSION_REVOKED';
  const from = v.revocation_inherited_from;
  return h('div', { class: `banner ${revoked ? 'bad' : 'warn'}`, role: 'status' },
    h('p', { class: 'banner-title' }, revoked ? 'Revoked' : 'Revocation scheduled', ' ', when(v.revoke_at)),
    v.revocation_message ? h('p', {}, h('span', { class: 'muted' }, 'Message: '), h('q', {}, v.revocation_message)) : null,
    h('p', {}, h('span', { class: 'muted' }, 'By: '), v.revocation_author || '—',
      v.revocation_type === 'INHERITED' && from
        ? [' · inherited from ', h('a', { href: versionHref(from.bucket_name, from.fingerprint) }, `${from.bucket_name} ${from.version}`)]
        : ''));
}

function buildsSection(v) {
  const builds = v.builds || [];
  if (!builds.length) return section('Builds', h('p', { class: 'muted' }, 'No builds.'));
  const platforms = [...new Set(builds.map((b) => b.platform || '(none yet)'))].sort();
  return section('Builds', platforms.map((p) => h('div', { class: 'platform' },
    h('h3', {}, p),
    builds.filter((b) => (b.platform || '(none yet)') === p).map((b) => h('article', { class: 'build', 'aria-label': `build ${b.component_type}` },
      h('h4', {}, b.component_type, ' ', badge(b.status)),
      facts([
        ['Build id', h('code', {}, b.id)],
        ['Packer run', b.packer_run_uuid ? h('code', {}, b.packer_run_uuid) : null],
        ['Source image', b.source_external_identifier ? h('code', {}, b.source_external_identifier) : null],
        ['Labels', labels(b.labels)],
        ['Created', when(b.created_at)],
      ]),
      table([
        { title: 'Region', cell: (a) => a.region || h('span', { class: 'muted' }, '—') },
        { title: 'Image', cell: (a) => h('code', { class: 'wrap' }, a.external_identifier) },
        { title: 'Created', cell: (a) => when(a.created_at) },
      ], b.artifacts || [], { empty: 'No artifacts.' }))))));
}

function familySection(v, children) {
  const parents = v.parent_versions || [];
  return section('Ancestry',
    h('h3', {}, 'Built from'),
    parents.length
      ? h('ul', { class: 'plain' }, parents.map((p) => h('li', {},
        h('a', { href: versionHref(p.bucket_name, p.fingerprint) }, `${p.bucket_name} ${p.version || p.fingerprint}`),
        p.channel_name ? ` (channel ${p.channel_name})` : '', ' ', badge(p.status))))
      : h('p', { class: 'muted' }, 'No parent image in the registry.'),
    h('h3', {}, 'Built from this version'),
    children.length
      ? h('ul', { class: 'plain' }, children.map((r) => h('li', {},
        h('a', { href: versionHref(r.child.bucket_name, r.child.version_fingerprint) }, `${r.child.bucket_name} ${r.child.version_name || r.child.version_fingerprint}`),
        ' ', badge(r.status))))
      : h('p', { class: 'muted' }, v.has_descendants ? 'Older versions of other buckets were built from it (the latest ones were not).' : 'No version was built from it.'));
}

function usageSection(usage) {
  if (usage === null)
    return section('Usage', h('p', { class: 'muted' }, 'This imagegate does not record which workspaces use an image.'));
  const rows = [];
  for (const w of usage.workspaces || [])
    for (const r of w.resources || []) rows.push({ w, r });
  return section('Usage',
    h('p', { class: 'muted' }, 'Workspaces whose plans used this version or a version built from it (run tasks and POST /v1/scan).'),
    table([
      { title: 'Organization', cell: (x) => x.w.organization || '—' },
      { title: 'Workspace', cell: (x) => x.w.workspace },
      { title: 'Resource', cell: (x) => h('code', {}, x.r.address) },
      { title: 'Version', cell: (x) => `${x.r.bucket || ''} ${x.r.version || ''}`.trim() },
      { title: 'Image', cell: (x) => (x.r.image ? h('code', {}, x.r.image) : h('span', { class: 'muted' }, '(sensitive)')) },
      { title: 'Last seen', cell: (x) => when(x.r.last_seen || x.w.last_seen) },
    ], rows, { empty: 'No workspace has used it.' }));
}

function downloadButton(base, s) {
  const out = h('span', { 'aria-live': 'polite' });
  const b = h('button', { type: 'button', class: 'secondary small' }, `Download ${s.name}`);
  b.addEventListener('click', () => act(b, out, async () => {
    const d = await get(`${base}/sboms/${seg(s.name)}`);
    const href = safeHref(d.download_url);
    if (!href) throw new Error('the server answered no usable download link');
    h('a', { href, download: '' }).click();
  }));
  return h('span', {}, b, out);
}

async function sbomSection(bucket, v) {
  const parts = await Promise.all((v.builds || []).map(async (b) => {
    const base = versionPath(bucket, v.fingerprint) + `/builds/${seg(b.id)}`;
    const list = await optional(`${base}/sboms`);
    const sboms = (list && list.sboms) || [];
    if (!sboms.length) return null;
    const pk = await optional(`${base}/packages`);
    return h('article', { class: 'build' },
      h('h3', {}, b.component_type, ' (', b.platform, ')'),
      h('ul', { class: 'plain' }, sboms.map((s) => h('li', {}, s.name, ' ', h('span', { class: 'badge muted' }, s.format || ''), ' ', downloadButton(base, s)))),
      table([
        { title: 'Package', cell: (p) => p.name },
        { title: 'Version', cell: (p) => p.version || '—' },
        { title: 'purl', cell: (p) => (p.purl ? h('code', { class: 'wrap' }, p.purl) : '—') },
      ], (pk && pk.packages) || [], { empty: 'No packages listed.' }));
  }));
  const found = parts.filter(Boolean);
  return found.length ? section('SBOMs and packages', found) : null;
}

function deleteSection(bucket, v) {
  const name = versionName(v);
  const out = h('div', { 'aria-live': 'polite' });
  const b = h('button', { type: 'button', class: 'danger' }, 'Delete version…');
  b.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: `Delete ${bucket} ${name}?`,
      body: h('p', {}, 'The version, its builds and artifacts are deleted; a channel that holds it must be unassigned first. The audit trail keeps the deletion.'),
      confirm: 'Delete version', danger: true, typed: name,
    });
    if (ok) await act(b, out, async () => {
      await call('DELETE', versionPath(bucket, v.fingerprint));
      go(bucketHref(bucket));
    });
  });
  return h('div', {}, h('h3', {}, 'Delete'), b, out);
}

export async function versionView({ bucket, version }) {
  const [info, channels, ancestry, usage] = await Promise.all([
    get(versionPath(bucket, version)),
    get(packer(`/buckets/${seg(bucket)}/channels`), { 'pagination.page_size': 1000 }),
    get(packer(`/buckets/${seg(bucket)}/ancestry`), { type: 'ANCESTRY_TYPE_CHILDREN', 'pagination.page_size': 1000 }),
    optional('/v1/usage', { bucket, version }),
  ]);
  const v = info.version;
  const holding = (channels.channels || []).filter((c) => c.version && c.version.id === v.id).map((c) => c.name);
  const children = (ancestry.relations || []).filter((r) => r.parent.version_id === v.id);
  const sboms = await sbomSection(bucket, v);
  return h('div', {},
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: '/ui/buckets' }, 'Buckets'), ' / ', h('a', { href: bucketHref(bucket) }, bucket), ' / ', versionName(v)),
    h('h1', {}, `${bucket} ${versionName(v)} `, badge(v.status)),
    banner(v),
    facts([
      ['Fingerprint', h('code', {}, v.fingerprint)],
      ['Version id', h('code', {}, v.id)],
      ['Channels', holding.length ? holding.join(', ') : h('span', { class: 'muted' }, 'none')],
      ['Author', v.author_id],
      ['Template', v.template_type],
      ['Created', when(v.created_at)],
      ['Completed', when(v.completed_at)],
    ]),
    buildsSection(v),
    familySection(v, children),
    sboms,
    usageSection(usage),
    can('admin') ? section('Revocation', revokeSection(bucket, v, render, holding), restoreSection(bucket, v, children, render), deleteSection(bucket, v)) : null);
}
