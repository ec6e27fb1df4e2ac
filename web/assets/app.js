// The imagegate console: plain ES modules, no build step, no framework
// (docs/console.md says why). This module wires the views to their URLs,
// keeps the header (navigation, who is signed in) and asks for a token
// when there is none.

import { can, session, signIn, whenUnauthorized } from './api.js';
import { clear, describe, h } from './dom.js';
import { go, render, route, setAfterRender, setGuard, startRouter } from './router.js';
import { auditView } from './views/audit.js';
import { bucketView } from './views/bucket.js';
import { bucketsView } from './views/buckets.js';
import { channelView } from './views/channel.js';
import { runsView } from './views/runs.js';
import { signInView } from './views/signin.js';
import { tokensView } from './views/tokens.js';
import { versionView } from './views/version.js';

let notice = null; // why the sign-in form is shown again

whenUnauthorized((err) => {
  session.clear();
  notice = `The server refused the token (${describe(err)}). Sign in again.`;
  render();
});

setGuard(async () => {
  if (!session.token) {
    const n = notice;
    notice = null;
    return signInView(n, render);
  }
  if (!session.who) {
    try {
      await signIn(session.token);
    } catch (e) {
      return signInView(describe(e), render);
    }
  }
  return null;
});

route('/ui/', () => {
  history.replaceState(null, '', '/ui/buckets');
  return bucketsView({}, new URLSearchParams());
});
route('/ui/signin', () => {
  history.replaceState(null, '', '/ui/buckets');
  return bucketsView({}, new URLSearchParams());
});
route('/ui/buckets', bucketsView);
route('/ui/buckets/:bucket', bucketView);
route('/ui/buckets/:bucket/versions/:version', versionView);
route('/ui/buckets/:bucket/channels/:channel', channelView);
route('/ui/runs', runsView);
route('/ui/audit', auditView);
route('/ui/tokens', tokensView);

function navLink(href, text, path) {
  const current = path === href || path.startsWith(href + '/');
  return h('a', { href, 'aria-current': current ? 'page' : null }, text);
}

setAfterRender((path) => {
  const nav = clear(document.getElementById('nav'));
  const who = clear(document.getElementById('who'));
  if (!session.who) return;
  nav.append(navLink('/ui/buckets', 'Buckets', path), navLink('/ui/runs', 'Runs', path));
  if (can('admin')) nav.append(navLink('/ui/audit', 'Audit', path), navLink('/ui/tokens', 'Tokens', path));
  who.append(
    h('span', { class: 'whoami' }, session.who.name, ' ', h('span', { class: 'badge muted' }, session.who.role)),
    h('button', {
      type: 'button',
      class: 'secondary',
      onclick: () => {
        session.clear();
        notice = 'Signed out: the token is forgotten in this tab.';
        go(location.pathname + location.search, { replace: true });
      },
    }, 'Sign out'));
});

startRouter();
render();
