// app.js: the shell of warren's management UI: login, the hash router, the virtual
// host selector and the 5-second refresh (RabbitMQ's UI default). Each page module
// exports mount(root, params, app) → {title, refresh()}; refresh() redraws the page's
// data and leaves its forms alone, so typing is never lost to a refresh.

import * as api from './api.js';
import { h, replace, errorText } from './dom.js';
import * as overview from './overview.js';
import * as conns from './connections.js';
import * as exchanges from './exchanges.js';
import * as queues from './queues.js';
import * as queue from './queue.js';

const REFRESH_MS = 5000;
const VHOST_KEY = 'warren.vhost';

const $ = (id) => document.getElementById(id);

// app is what pages share: the selected vhost ("" = all), the vhost names, the user.
const app = {
  vhost: sessionStorage.getItem(VHOST_KEY) || '',
  vhosts: [],
  user: null,
  go(hash) {
    if (location.hash === hash) show();
    else location.hash = hash;
  },
  // defaultVHost is the vhost a declare form starts with.
  defaultVHost() {
    if (app.vhost) return app.vhost;
    return app.vhosts.includes('/') ? '/' : app.vhosts[0] || '/';
  },
};

// routes: the first path segment of the hash, and how many more it takes.
const routes = [
  { path: [], page: 'overview', mount: overview.mount },
  { path: ['connections'], page: 'connections', mount: conns.mountConnections },
  { path: ['channels'], page: 'channels', mount: conns.mountChannels },
  { path: ['exchanges'], page: 'exchanges', mount: exchanges.mountList },
  { path: ['exchanges', null, null], page: 'exchanges', mount: exchanges.mountExchange },
  { path: ['queues'], page: 'queues', mount: queues.mount },
  { path: ['queues', null, null], page: 'queues', mount: queue.mount },
];

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const segs = raw === '' ? [] : raw.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  for (const r of routes) {
    if (r.path.length !== segs.length) continue;
    if (r.path.every((p, i) => p === null || p === segs[i])) {
      return { route: r, params: segs.filter((_, i) => r.path[i] === null) };
    }
  }
  return { route: null, params: segs };
}

let current = null; // {view, timer, running}

function stop() {
  if (current) clearInterval(current.timer);
  current = null;
}

function pageError(err) {
  const el = $('page-error');
  if (!err) {
    el.hidden = true;
    el.textContent = '';
    return;
  }
  el.textContent = `Could not load this page: ${errorText(err)}`;
  el.hidden = false;
}

async function tick(force) {
  const c = current;
  if (!c || c.running) return;
  // Hold a refresh while the tab is hidden or a "Yes / Cancel" question is open.
  if (!force && (document.hidden || $('main').querySelector('.confirm-q'))) return;
  c.running = true;
  try {
    await c.view.refresh();
    if (c === current) pageError(null);
  } catch (e) {
    if (c === current) pageError(e);
  } finally {
    c.running = false;
  }
}

// show draws the page the hash names. moved: the user went there (a link, back or
// forward), so the view starts at the top with the focus on the new content.
async function show(moved) {
  stop();
  const main = $('main');
  main.replaceChildren();
  pageError(null);
  const { route, params } = parseHash();
  main.dataset.hash = location.hash; // which page main shows, for tests
  main.dataset.page = route ? route.page : '';
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (route && a.dataset.page === route.page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!route) {
    main.append(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Go to the overview.')));
    document.title = 'Not found · warren';
    return;
  }
  const view = route.mount(main, params, app);
  document.title = `${view.title} · warren`;
  current = { view, timer: null, running: false };
  current.timer = setInterval(() => tick(false), REFRESH_MS);
  // aria-busy until the first load ends: screen readers wait, and so do the tests.
  main.setAttribute('aria-busy', 'true');
  const c = current;
  if (moved) {
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
  await tick(true);
  if (c === current) main.removeAttribute('aria-busy');
}

// refresh redraws the current page now (after a form changed something).
app.refresh = () => tick(true);

async function loadVHosts() {
  const list = await api.get('/api/vhosts');
  app.vhosts = list.map((v) => v.name).sort();
  if (app.vhost && !app.vhosts.includes(app.vhost)) {
    app.vhost = '';
    sessionStorage.removeItem(VHOST_KEY);
  }
  const sel = $('vhost-select');
  replace(sel, h('option', { value: '' }, 'All'),
    app.vhosts.map((v) => h('option', { value: v, selected: v === app.vhost }, v)));
  sel.value = app.vhost;
}

async function enter() {
  const who = await api.get('/api/whoami');
  app.user = who;
  $('whoami').textContent = who.name;
  $('whoami').title = `tags: ${(who.tags || []).join(', ') || 'none'}`;
  $('login-view').hidden = true;
  $('top').hidden = false;
  $('main').hidden = false;
  try {
    await loadVHosts();
  } catch (e) {
    pageError(e);
  }
  await show();
}

function showLogin(message) {
  stop();
  $('top').hidden = true;
  $('main').hidden = true;
  $('main').replaceChildren();
  pageError(null);
  $('login-view').hidden = false;
  const st = $('login-status');
  st.textContent = message || '';
  st.className = message ? 'status error' : 'status';
  st.setAttribute('role', message ? 'alert' : 'status');
  document.title = 'Log in · warren';
  $('login-user').focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const user = $('login-user').value;
  const pass = $('login-pass').value;
  if (!user) {
    showLogin('Enter a username.');
    return;
  }
  api.login(user, pass);
  const button = ev.target.querySelector('button');
  button.disabled = true;
  try {
    await enter();
    $('login-pass').value = '';
  } catch (e) {
    api.logout();
    const why = !e.reason || e.reason === 'Login failed' ? 'wrong username or password.' : e.reason;
    showLogin(e.status === 401 ? `Login failed: ${why}` : errorText(e));
  } finally {
    button.disabled = false;
  }
}

function start() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout').addEventListener('click', () => {
    api.logout();
    showLogin('');
  });
  $('vhost-select').addEventListener('change', (ev) => {
    app.vhost = ev.target.value;
    if (app.vhost) sessionStorage.setItem(VHOST_KEY, app.vhost);
    else sessionStorage.removeItem(VHOST_KEY);
    const { route } = parseHash();
    // A queue or exchange page belongs to its own vhost: go to the list instead.
    if (route && route.path.length > 1) app.go(`#/${route.path[0]}`);
    else show();
  });
  // A link to the page on show (a nav link clicked again) redraws it from scratch.
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('a[href^="#"]');
    if (a && a.getAttribute('href') === location.hash && api.session()) {
      ev.preventDefault();
      show();
    }
  });
  window.addEventListener('hashchange', () => {
    if (api.session()) show(true);
  });
  window.addEventListener('warren:unauthorized', () => {
    api.logout();
    showLogin('Your session ended; log in again.');
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) tick(false);
  });
  if (api.session()) {
    enter().catch((e) => {
      api.logout();
      showLogin(errorText(e));
    });
  } else {
    showLogin('');
  }
}

start();
