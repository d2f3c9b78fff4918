// connections.js: the Connections and Channels pages (GET /api/connections,
// /api/channels, or the /api/vhosts/{vhost}/… forms for one vhost).

import { call, get, enc } from './api.js';
import { h, replace, num, time, since, table, confirmButton, status, errorText, value, filterBox } from './dom.js';

function client(c) {
  const p = c.client_properties || {};
  return [p.product, p.version].filter(Boolean).map(value).join(' ') || (p.platform ? value(p.platform) : '');
}

export function mountConnections(root, _params, app) {
  const list = h('div', { testid: 'connections' });
  const msg = h('p', { class: 'status', 'aria-live': 'polite' });
  let rows = [];
  const filter = filterBox('connections-filter', () => draw());
  root.append(h('h1', {}, 'Connections'), h('div', { class: 'toolbar' }, filter.el), msg, list);

  function draw() {
    replace(list, table({
      testid: 'connections-table', empty: 'No client connections.', key: (c) => c.name,
      rows: rows.filter((c) => filter.match(c.name) || filter.match(c.client_properties?.connection_name || '')),
      cols: [
        { label: 'Name', cell: (c) => (c.client_properties?.connection_name
          ? [h('span', {}, value(c.client_properties.connection_name)), h('br'), h('small', { class: 'mono muted' }, c.name)]
          : h('span', { class: 'mono' }, c.name)), sort: (c) => c.client_properties?.connection_name || c.name },
        !app.vhost && { label: 'Virtual host', cell: (c) => c.vhost, sort: (c) => c.vhost },
        { label: 'User', cell: (c) => c.user, sort: (c) => c.user },
        { label: 'State', cell: (c) => h('span', { class: `state ${c.state}` }, c.state), sort: (c) => c.state },
        { label: 'Client', cell: client, sort: client },
        { label: 'Protocol', cell: (c) => h('span', { class: 'nowrap' }, c.protocol + (c.ssl ? ' / TLS' : '')) },
        { label: 'Channels', num: true, cell: (c) => num(c.channels), sort: (c) => c.channels },
        { label: 'Heartbeat', num: true, cell: (c) => (c.timeout ? `${c.timeout}s` : 'off') },
        { label: 'Connected', cell: (c) => h('span', { class: 'nowrap', title: time(c.connected_at) }, since(Date.now() - c.connected_at), ' ago'), sort: (c) => -c.connected_at },
        { label: 'Actions', cell: (c) => confirmButton({
          label: 'Close', confirm: 'Close this connection?', testid: 'close-connection',
          run: async () => {
            try {
              await call('DELETE', `/api/connections/${enc(c.name)}`);
              status(msg, `Closed ${c.name}.`, false);
            } catch (e) {
              status(msg, errorText(e), true);
            }
            await app.refresh();
          },
        }) },
      ].filter(Boolean),
    }));
  }

  return {
    title: 'Connections',
    async refresh() {
      rows = await get(app.vhost ? `/api/vhosts/${enc(app.vhost)}/connections` : '/api/connections');
      draw();
    },
  };
}

export function mountChannels(root, _params, app) {
  const list = h('div', { testid: 'channels' });
  let rows = [];
  const filter = filterBox('channels-filter', () => draw());
  root.append(h('h1', {}, 'Channels'), h('div', { class: 'toolbar' }, filter.el), list);

  function mode(ch) {
    const m = [];
    if (ch.confirm) m.push(h('abbr', { title: 'publisher confirms' }, 'C'));
    if (ch.transactional) m.push(h('abbr', { title: 'transactional' }, 'T'));
    return h('span', { class: 'features' }, m);
  }

  function draw() {
    replace(list, table({
      testid: 'channels-table', empty: 'No open channels.', key: (c) => c.name,
      rows: rows.filter((c) => filter.match(c.name)),
      cols: [
        { label: 'Channel', cell: (c) => h('span', { class: 'mono' }, c.name) },
        !app.vhost && { label: 'Virtual host', cell: (c) => c.vhost },
        { label: 'User', cell: (c) => c.user },
        { label: 'Mode', cell: mode },
        { label: 'State', cell: (c) => h('span', { class: `state ${c.state}` }, c.state) },
        { label: 'Consumers', num: true, cell: (c) => num(c.consumer_count), sort: (c) => c.consumer_count },
        { label: 'Prefetch', num: true, cell: (c) => (c.prefetch_count ? num(c.prefetch_count) : c.global_prefetch_count ? `${num(c.global_prefetch_count)} (global)` : 'none') },
        { label: 'Unacked', num: true, cell: (c) => num(c.messages_unacknowledged), sort: (c) => c.messages_unacknowledged },
        { label: 'Unconfirmed', num: true, cell: (c) => num(c.messages_unconfirmed) },
      ].filter(Boolean),
    }));
  }

  return {
    title: 'Channels',
    async refresh() {
      rows = await get(app.vhost ? `/api/vhosts/${enc(app.vhost)}/channels` : '/api/channels');
      draw();
    },
  };
}
