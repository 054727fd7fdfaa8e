// The console's router: #/overview, #/find?…, #/payout/<id>, #/act; the sign-in page when this
// tab holds no token. Each page is a module with render(main, match, ctx) that may return a
// cleanup (timers) run when the page is left.
import { ApiError, api, session } from './api.js';
import { h } from './dom.js';
import * as act from './pages/act.js';
import * as find from './pages/find.js';
import * as overview from './pages/overview.js';
import * as signin from './pages/signin.js';
import * as story from './pages/story.js';

const ROUTES = [
  [/^#\/overview$/, overview],
  [/^#\/find(?:\?(.*))?$/, find],
  [/^#\/payout\/([1-9][0-9]*)$/, story],
  [/^#\/act$/, act],
];

/** Thrown after a 401 took the operator back to the sign-in page: the page stops there. */
class SignedOut extends Error {}

let leave;
let generation = 0;
let metaCache;
let signInMessage;

const ctx = {
  /** api() with the session's token; a 401 signs out with the api's reason. */
  async call(method, path, body) {
    try {
      return await api(method, path, body);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        signOut(`The api refused this tab's token (${err.message}). Sign in again.`);
        throw new SignedOut();
      }
      throw err;
    }
  },
  /** What the token may see and the statuses this api knows (from the overview), once per sign-in. */
  meta() {
    metaCache ??= ctx.call('GET', '/overview?minutes=1').then((o) => ({
      namespaces: o.namespaces, payoutStatuses: o.payout_statuses, requestStatuses: o.request_statuses,
    }));
    metaCache.catch(() => { metaCache = undefined; });
    return metaCache;
  },
  signedIn() {
    metaCache = undefined;
    signInMessage = undefined;
    if (location.hash === '#/overview') route();
    else location.hash = '#/overview';
  },
  /** Errors a page shows; SignedOut is already handled. */
  isSignedOut: (err) => err instanceof SignedOut,
  go: (hash) => { location.hash = hash; },
};

function signOut(message) {
  session.signOut();
  metaCache = undefined;
  signInMessage = message;
  route();
}

function header(signedIn) {
  document.getElementById('nav').hidden = !signedIn;
  const who = document.getElementById('who');
  who.replaceChildren();
  if (signedIn) who.append(h('button', { type: 'button', onClick: () => signOut('Signed out.') }, 'Sign out'));
  const page = (location.hash || '#/overview').split('?')[0].replace(/^#\/payout\/.*/, '#/find');
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  leave?.();
  leave = undefined;
  const mine = ++generation;
  const main = document.getElementById('main');
  main.replaceChildren();
  if (!session.token()) {
    header(false);
    signin.render(main, null, { ...ctx, message: signInMessage });
    document.title = 'Sign in · payout console';
    return;
  }
  header(true);
  const hash = location.hash || '#/overview';
  const found = ROUTES.map(([re, page]) => [re.exec(hash), page]).find(([m]) => m);
  if (!found) {
    main.append(h('h1', { tabindex: -1 }, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/overview' }, 'Go to the overview.')));
    main.querySelector('h1').focus();
    return;
  }
  const [match, page] = found;
  const alive = () => mine === generation;
  try {
    const cleanup = await page.render(main, match, { ...ctx, alive });
    if (alive()) leave = cleanup;
    else cleanup?.();
  } catch (err) {
    if (err instanceof SignedOut || !alive()) return;
    main.append(h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${err.message}`));
  }
  if (alive()) {
    const h1 = main.querySelector('h1');
    if (h1) {
      h1.tabIndex = -1;
      h1.focus();
      document.title = `${h1.textContent} · payout console`;
    }
  }
}

window.addEventListener('hashchange', route);
route();
