// overview.js: totals, live message rates and node information (GET /api/overview,
// refreshed every 5 s; the rates are the API's, sampled by warren every 5 s).

import { get, enc } from './api.js';
import { h, replace, num, rate, since, kv, table } from './dom.js';
import { lineChart } from './chart.js';

const SLOTS = 60; // five minutes of 5-second samples

// The message_stats rates shown, in RabbitMQ's UI order.
const RATES = [
  ['publish', 'Publish', 'c1'],
  ['confirm', 'Publisher confirm', 'c2'],
  ['deliver_get', 'Deliver / get', 'c3'],
  ['redeliver', 'Redelivered', 'c4'],
  ['ack', 'Consumer ack', 'c5'],
  ['get_empty', 'Get (empty)', 'c6'],
  ['return_unroutable', 'Unroutable (return)', 'c7'],
  ['drop_unroutable', 'Unroutable (drop)', 'c8'],
];
const QUEUED = [
  ['messages_ready', 'Ready', 'c1'],
  ['messages_unacknowledged', 'Unacked', 'c5'],
  ['messages', 'Total', 'c3'],
];

export function mount(root, _params, app) {
  const totals = h('div', { class: 'cards stack', testid: 'overview-totals' });
  const queuedChart = h('div', { class: 'chart-box' });
  const ratesChart = h('div', { class: 'chart-box' });
  const ratesTable = h('div', { testid: 'overview-rates' });
  const objects = h('div', { class: 'cards', testid: 'overview-objects' });
  const node = h('div', { testid: 'overview-node' });
  const listeners = h('div', { testid: 'overview-listeners' });
  root.append(
    h('h1', {}, 'Overview'),
    h('p', { class: 'muted' }, 'Whole broker, all virtual hosts; refreshed every 5 seconds.'),
    h('section', { 'aria-labelledby': 'ov-queued' }, h('h2', { id: 'ov-queued' }, 'Queued messages'),
      h('div', { class: 'duo' }, queuedChart, totals)),
    h('section', { 'aria-labelledby': 'ov-rates' }, h('h2', { id: 'ov-rates' }, 'Message rates'),
      h('div', { class: 'duo' }, ratesChart, ratesTable)),
    h('section', { 'aria-labelledby': 'ov-objects' }, h('h2', { id: 'ov-objects' }, 'Global counts'), objects),
    h('section', { 'aria-labelledby': 'ov-node' }, h('h2', { id: 'ov-node' }, 'Node'), h('div', { class: 'duo even' }, node, listeners)),
  );

  const history = []; // [{messages_ready, …, publish, …}], newest last
  let nodeInfo = null; // GET /api/nodes/{node}: monitoring users only
  let nodeRefused = false;

  return {
    title: 'Overview',
    async refresh() {
      const o = await get('/api/overview');
      if (!nodeRefused && o.node) {
        try {
          nodeInfo = await get(`/api/nodes/${enc(o.node)}`);
        } catch {
          nodeRefused = true; // not a monitoring user: no uptime, nothing else lost
        }
      }
      const qt = o.queue_totals || {};
      const ms = o.message_stats || {};
      const sample = {};
      for (const [k] of QUEUED) sample[k] = qt[k] || 0;
      for (const [k] of RATES) sample[k] = (ms[`${k}_details`] && ms[`${k}_details`].rate) || 0;
      history.push(sample);
      if (history.length > SLOTS) history.shift();

      replace(totals, QUEUED.map(([k, label]) => card(label, num(qt[k] || 0), rate(qt[`${k}_details`]), `total-${k}`)));
      replace(queuedChart,
        lineChart({ title: 'Queued messages over the last five minutes', unit: '', slots: SLOTS,
          series: QUEUED.map(([k, , cls]) => ({ cls, values: history.map((x) => x[k]) })) }),
        legend(QUEUED));

      const shown = RATES.filter(([k]) => k in ms);
      if (shown.length === 0) {
        replace(ratesChart);
        replace(ratesTable, h('p', { class: 'empty' }, 'No message rates reported.'));
      } else {
        replace(ratesChart,
          lineChart({ title: 'Message rates over the last five minutes', unit: '/s', slots: SLOTS,
            series: shown.slice(0, 5).map(([k, , cls]) => ({ cls, values: history.map((x) => x[k]) })) }),
          legend(shown.slice(0, 5)));
        replace(ratesTable, table({
          testid: 'rates-table', key: (r) => r[0], rows: shown,
          cols: [
            { label: 'Rate', cell: (r) => h('span', {}, h('span', { class: `swatch ${r[2]}`, 'aria-hidden': 'true' }), r[1]) },
            { label: 'Per second', num: true, cell: (r) => rate(ms[`${r[0]}_details`]) },
            { label: 'Total', num: true, cell: (r) => num(ms[r[0]]) },
          ],
        }));
      }

      const ot = o.object_totals || {};
      replace(objects, [
        ['connections', 'Connections', '#/connections'], ['channels', 'Channels', '#/channels'],
        ['exchanges', 'Exchanges', '#/exchanges'], ['queues', 'Queues', '#/queues'], ['consumers', 'Consumers', null],
      ].map(([k, label, href]) => card(label, num(ot[k] || 0), null, `count-${k}`, href)));

      replace(node, kv([
        ['Node', o.node],
        ['Product', [o.product_name, o.product_version].filter(Boolean).join(' ')],
        ['warren version', o.warren_version],
        ['RabbitMQ version (reported)', o.rabbitmq_version],
        ['Management API', o.management_version],
        ['Uptime', nodeInfo && since(nodeInfo.uptime)],
        ['OS process', nodeInfo && nodeInfo.os_pid],
        ['Virtual hosts', app.vhosts.join(', ')],
        ['Rates mode', o.rates_mode],
      ], 'node-info'));
      replace(listeners, table({
        testid: 'listeners', caption: 'Listeners', rows: o.listeners || [], empty: 'No listeners reported.',
        key: (l) => `${l.protocol}:${l.port}`,
        cols: [
          { label: 'Protocol', cell: (l) => l.protocol },
          { label: 'Bound to', cell: (l) => l.ip_address },
          { label: 'Port', num: true, cell: (l) => l.port },
        ],
      }));
    },
  };
}

function card(label, value, sub, testid, href) {
  const body = [h('span', { class: 'card-label' }, label), h('span', { class: 'card-value', testid }, value),
    sub && h('span', { class: 'card-sub' }, sub)];
  return href ? h('a', { class: 'card', href }, body) : h('div', { class: 'card' }, body);
}

function legend(list) {
  return h('ul', { class: 'legend' }, list.map(([, label, cls]) =>
    h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), label)));
}
