// Building the page. Everything from outside (names, descriptions, labels,
// messages, workspaces) goes into the page as text nodes or attribute
// values, never as markup: there is no innerHTML anywhere in the console,
// and the Content-Security-Policy forbids inline scripts besides.

// h('a', {href: '/ui/x', class: 'c'}, 'text', child, [more]) -> element.
// Props: on* are listeners, class, dataset; booleans (disabled, checked…)
// set the property; everything else becomes an attribute.
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (typeof v === 'boolean' || k === 'value') el[k] = v;
    else el.setAttribute(k, String(v));
  }
  add(el, kids);
  return el;
}

// Appends kids (nodes, strings, numbers, nested arrays; null skipped).
export function add(el, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Only http(s) links leave the console (a result page); anything else
// (javascript:, data:) is shown as text.
export function safeHref(url) {
  try {
    const u = new URL(url, location.origin);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

const local = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short',
});

export function utcText(d) {
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// A time in the viewer's zone, with UTC on hover (title) and in datetime.
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(iso));
  return h('time', { datetime: d.toISOString(), title: utcText(d) }, local.format(d));
}

// Status badges: the word is always there; colour only repeats it.
const STATUS = {
  VERSION_ACTIVE: ['active', 'ok'],
  VERSION_REVOKED: ['revoked', 'bad'],
  VERSION_REVOCATION_SCHEDULED: ['revocation scheduled', 'warn'],
  VERSION_RUNNING: ['running', 'info'],
  VERSION_INCOMPLETE: ['incomplete', 'info'],
  VERSION_FAILED: ['failed', 'bad'],
  VERSION_CANCELLED: ['cancelled', 'muted'],
  BUILD_DONE: ['done', 'ok'],
  BUILD_RUNNING: ['running', 'info'],
  BUILD_FAILED: ['failed', 'bad'],
  BUILD_CANCELLED: ['cancelled', 'muted'],
  BUILD_UNSET: ['unset', 'muted'],
  UP_TO_DATE: ['up to date', 'ok'],
  OUT_OF_DATE: ['out of date', 'warn'],
  UNDETERMINED: ['undetermined', 'muted'],
  pass: ['pass', 'ok'],
  warn: ['warn', 'warn'],
  fail: ['fail', 'bad'],
  error: ['error', 'bad'],
};

export function badge(status) {
  const [text, tone] = STATUS[status] || [String(status || 'unknown').toLowerCase(), 'muted'];
  return h('span', { class: `badge ${tone}`, title: status || '' }, text);
}

export function labels(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('ul', { class: 'chips', 'aria-label': 'labels' },
    entries.map(([k, v]) => h('li', { class: 'chip' }, `${k}=${v}`)));
}

// A table: columns [{title, cell(row) -> node|string}], rows; wrapped so a
// narrow window scrolls the table instead of the page.
export function table(columns, rows, { caption, empty = 'Nothing here.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'scroll' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.title)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.title }, c.cell(r))))))));
}

export function section(title, ...kids) {
  const id = 's-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), kids);
}

// A definition list from [term, value] pairs (null values skipped).
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter((p) => p && p[1] !== null && p[1] !== undefined)
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, describe(err));
}

// "403 (code 7): version.update needs an admin token…" for an API error.
export function describe(err) {
  if (err && err.status) {
    const code = err.code !== undefined ? ` (code ${err.code})` : '';
    return `${err.status}${code}: ${err.message}`;
  }
  return String((err && err.message) || err);
}
