// queues.js: the queue list (counts, consumers, rates when the API has them) and the
// declare form.

import { call, get, enc } from './api.js';
import { h, replace, field, select, submitting, table, num, rate, features, filterBox } from './dom.js';
import { argsField, vhostField, queueHref } from './forms.js';

export function mount(root, _params, app) {
  const list = h('div', { testid: 'queues' });
  let rows = [];
  const filter = filterBox('queues-filter', () => draw());

  const vh = vhostField(app, 'queue-vhost');
  const name = h('input', { testid: 'queue-name', required: true, autocomplete: 'off' });
  const type = select({ testid: 'queue-type' }, [['classic', 'Classic'], ['quorum', 'Quorum']], 'classic');
  const durable = select({ testid: 'queue-durable' }, [['true', 'Durable'], ['false', 'Transient']], 'true');
  const autoDelete = h('input', { type: 'checkbox', testid: 'queue-auto-delete' });
  const a = argsField('Arguments', 'queue-args',
    'One "key = value" per line, e.g. x-message-ttl = 60000, x-max-length = 1000, x-dead-letter-exchange = dlx.');
  const st = h('p', { class: 'status', testid: 'queue-declare-status', 'aria-live': 'polite' });
  const form = h('form', { class: 'form', testid: 'queue-declare-form', novalidate: true },
    h('div', { class: 'row' }, vh.el, field('Name', name), field('Type', type), field('Durability', durable)),
    h('div', { class: 'row' }, field('Auto delete', autoDelete)),
    a.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'queue-declare-submit' }, 'Add queue')),
    st);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(form, st, async () => {
      if (!name.value) throw new Error('Enter a name for the queue.');
      const argv = a.read();
      if (type.value !== 'classic') argv['x-queue-type'] = type.value;
      await call('PUT', `/api/queues/${enc(vh.sel.value)}/${enc(name.value)}`, {
        durable: durable.value === 'true', auto_delete: autoDelete.checked, arguments: argv,
      });
      const done = `Queue ${name.value} declared.`;
      name.value = '';
      await app.refresh();
      return done;
    });
  });

  root.append(h('h1', {}, 'Queues'), h('div', { class: 'toolbar' }, filter.el), list,
    h('details', { class: 'panel', open: true }, h('summary', {}, h('h2', {}, 'Add a new queue')), form));

  function draw() {
    const stats = rows.some((q) => q.message_stats);
    replace(list, table({
      testid: 'queues-table', empty: 'No queues.', key: (q) => `${q.vhost}/${q.name}`,
      rows: rows.filter((q) => filter.match(q.name)),
      cols: [
        !app.vhost && { label: 'Virtual host', cell: (q) => q.vhost, sort: (q) => q.vhost },
        { label: 'Name', cell: (q) => h('a', { href: queueHref(q.vhost, q.name), testid: 'queue-link' }, q.name), sort: (q) => q.name },
        { label: 'Type', cell: (q) => q.type, sort: (q) => q.type },
        { label: 'Features', cell: features },
        { label: 'State', cell: (q) => h('span', { class: `state ${q.state}` }, q.state), sort: (q) => q.state },
        { label: 'Ready', num: true, cell: (q) => h('span', { testid: 'ready' }, num(q.messages_ready)), sort: (q) => q.messages_ready },
        { label: 'Unacked', num: true, cell: (q) => h('span', { testid: 'unacked' }, num(q.messages_unacknowledged)), sort: (q) => q.messages_unacknowledged },
        { label: 'Total', num: true, cell: (q) => h('span', { testid: 'total' }, num(q.messages)), sort: (q) => q.messages },
        { label: 'Consumers', num: true, cell: (q) => num(q.consumers), sort: (q) => q.consumers },
        stats && { label: 'Incoming', num: true, cell: (q) => rate(q.message_stats?.publish_details), sort: (q) => q.message_stats?.publish_details?.rate },
        stats && { label: 'Deliver / get', num: true, cell: (q) => rate(q.message_stats?.deliver_get_details), sort: (q) => q.message_stats?.deliver_get_details?.rate },
        stats && { label: 'Ack', num: true, cell: (q) => rate(q.message_stats?.ack_details), sort: (q) => q.message_stats?.ack_details?.rate },
      ].filter(Boolean),
    }));
  }

  return {
    title: 'Queues',
    async refresh() {
      rows = await get(app.vhost ? `/api/queues/${enc(app.vhost)}` : '/api/queues');
      draw();
    },
  };
}
