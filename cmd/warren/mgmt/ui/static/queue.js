// queue.js: one queue's page: details and arguments, consumers, bindings (add and
// remove), warren's non-destructive peek (GET /api/queues/{vhost}/{name}/peek),
// publish, get, purge and delete.

import { call, get, enc } from './api.js';
import { h, replace, field, select, submitting, table, kv, args, num, rate, bytes, features, confirmButton, status, errorText } from './dom.js';
import { publishForm, bindingForm, bindingsTable, messageCard, expandButtons } from './forms.js';

const ACKMODES = [
  ['reject_requeue_true', 'Nack, requeue (message stays, marked redelivered)'],
  ['ack_requeue_true', 'Ack, requeue'],
  ['reject_requeue_false', 'Reject, no requeue (removes the message; dead-letters if set)'],
  ['ack_requeue_false', 'Ack, no requeue (removes the message)'],
];

export function mount(root, [vhost, name], app) {
  const path = `/api/queues/${enc(vhost)}/${enc(name)}`;
  const details = h('div', { testid: 'queue-details' });
  const counts = h('div', { testid: 'queue-counts' });
  const consumers = h('div', { testid: 'queue-consumers' });
  const bindings = h('div', { testid: 'queue-bindings' });
  const bindMsg = h('p', { class: 'status', 'aria-live': 'polite' });
  const actionSt = h('p', { class: 'status', testid: 'queue-action-status', 'aria-live': 'polite' });

  const reloadBindings = async () => {
    const rows = await get(`${path}/bindings`);
    replace(bindings, bindingsTable({ rows, testid: 'queue-bindings-table', show: ['source'], msg: bindMsg, onDone: reloadBindings }));
  };

  // ---- peek
  const peekCount = h('input', { type: 'number', min: 1, max: 1000, value: '20', testid: 'peek-count' });
  const peekOffset = h('input', { type: 'number', min: 0, value: '0', testid: 'peek-offset' });
  const peekTrunc = h('input', { type: 'number', min: 0, value: '4096', testid: 'peek-truncate' });
  const peekEnc = select({ testid: 'peek-encoding' }, [['auto', 'Auto (text if UTF-8)'], ['base64', 'Base64']], 'auto');
  const peekSt = h('p', { class: 'status', testid: 'peek-status', 'aria-live': 'polite' });
  const peekOut = h('div', { testid: 'peek-messages', class: 'messages' });
  const peekNav = h('div', { class: 'actions' });
  const peekLive = h('input', { type: 'checkbox', testid: 'peek-live' });
  const peekForm = h('form', { class: 'form compact', testid: 'peek-form', novalidate: true },
    h('div', { class: 'row' }, field('Messages', peekCount), field('From position', peekOffset),
      field('Payload bytes', peekTrunc, '0 shows whole payloads'), field('Encoding', peekEnc)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'peek-button' }, 'Peek'),
      field('Peek again every 5 seconds', peekLive)),
    peekSt);
  async function peek() {
    const q = new URLSearchParams({ count: peekCount.value || '20', offset: peekOffset.value || '0',
      truncate: peekTrunc.value || '0', encoding: peekEnc.value });
    const r = await get(`${path}/peek?${q}`);
    const total = r.messages_ready + r.messages_unacknowledged;
    const n = r.messages.length;
    // Cards the user opened stay open when the same positions are drawn again.
    const opened = new Set([...peekOut.querySelectorAll('details.message[open]')].map((d) => d.dataset.position));
    replace(peekOut, n ? r.messages.map((m) => messageCard(m, 'peek-message', n === 1 || opened.has(String(m.position))))
      : h('p', { class: 'empty', testid: 'peek-empty' }, 'No messages at these positions.'));
    const off = Number(r.offset);
    const step = Number(peekCount.value) || 20;
    replace(peekNav,
      n > 1 && expandButtons(peekOut, 'peek'),
      off > 0 && h('button', { type: 'button', testid: 'peek-prev', onclick: () => { peekOffset.value = String(Math.max(0, off - step)); runPeek(); } }, 'Previous'),
      off + n < total && h('button', { type: 'button', testid: 'peek-next', onclick: () => { peekOffset.value = String(off + n); runPeek(); } }, 'Next'));
    return `${num(r.messages_unacknowledged)} unacked and ${num(r.messages_ready)} ready` +
      (r.messages_paged_out ? ` (${num(r.messages_paged_out)} paged out)` : '') +
      (n === 1 ? `; showing position ${off}.` : n ? `; showing positions ${off}–${off + n - 1}, unacked first.` : '.');
  }
  const runPeek = () => submitting(peekForm, peekSt, peek);
  peekLive.addEventListener('change', () => { if (peekLive.checked) runPeek(); });
  peekForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    runPeek();
  });

  // ---- get
  const getMode = select({ testid: 'get-ackmode' }, ACKMODES, 'reject_requeue_true');
  const getEnc = select({ testid: 'get-encoding' }, [['auto', 'Auto (text if UTF-8)'], ['base64', 'Base64']], 'auto');
  const getCount = h('input', { type: 'number', min: 1, value: '1', testid: 'get-count' });
  const getTrunc = h('input', { type: 'number', min: 0, value: '50000', testid: 'get-truncate' });
  const getSt = h('p', { class: 'status', testid: 'get-status', 'aria-live': 'polite' });
  const getOut = h('div', { testid: 'get-messages', class: 'messages' });
  const getForm = h('form', { class: 'form compact', testid: 'get-form', novalidate: true },
    h('p', { class: 'muted' }, 'Get takes messages off the queue as a consumer would; a requeued message comes back marked redelivered. Peek looks without touching them.'),
    h('div', { class: 'row' }, field('Ack mode', getMode), field('Encoding', getEnc), field('Messages', getCount), field('Payload bytes', getTrunc)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'get-button' }, 'Get messages')),
    getSt, getOut);
  getForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(getForm, getSt, async () => {
      const body = { count: Number(getCount.value) || 1, ackmode: getMode.value, encoding: getEnc.value };
      if (Number(getTrunc.value) > 0) body.truncate = Number(getTrunc.value);
      const msgs = await call('POST', `${path}/get`, body);
      replace(getOut, msgs.map((m) => messageCard(m, 'get-message', msgs.length <= 3)));
      await app.refresh();
      return msgs.length ? `Got ${msgs.length} message${msgs.length === 1 ? '' : 's'}.` : 'Queue is empty.';
    });
  });

  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › virtual host ', h('span', { class: 'mono' }, vhost)),
    h('h1', {}, 'Queue ', h('span', { class: 'mono', testid: 'queue-title' }, name)),
    h('div', { class: 'split' },
      h('section', {}, h('h2', {}, 'Messages'), counts),
      h('section', {}, h('h2', {}, 'Details'), details)),
    h('section', {}, h('h2', {}, 'Consumers'), consumers),
    h('section', {}, h('h2', {}, 'Bindings'), bindMsg, bindings,
      h('details', { class: 'panel' }, h('summary', {}, h('h3', {}, 'Add a binding to this queue')),
        bindingForm({ vhost, queue: name, prefix: 'qbind', onDone: reloadBindings,
          suggest: () => get(`/api/exchanges/${enc(vhost)}`).then((xs) => xs.map((x) => x.name)) }))),
    h('section', { class: 'peek' }, h('h2', {}, 'Peek at messages'),
      h('p', { class: 'muted' }, 'Lists the unacknowledged and ready messages without delivering, requeueing or reordering them.'),
      peekForm, peekNav, peekOut),
    h('section', {}, h('details', { class: 'panel' }, h('summary', {}, h('h2', {}, 'Publish a message')),
      publishForm({ vhost, exchange: 'amq.default', fixedKey: name, prefix: 'qpublish', onDone: () => app.refresh() }))),
    h('section', {}, h('details', { class: 'panel' }, h('summary', {}, h('h2', {}, 'Get messages')), getForm)),
    h('section', {}, h('h2', {}, 'Purge and delete'),
      h('div', { class: 'actions' },
        confirmButton({
          label: 'Purge messages', confirm: 'Remove every ready message?', testid: 'queue-purge',
          run: async () => {
            try {
              await call('DELETE', `${path}/contents`);
              status(actionSt, 'Queue purged.', false);
            } catch (e) {
              status(actionSt, errorText(e), true);
            }
            await app.refresh();
          },
        }),
        confirmButton({
          label: 'Delete queue', confirm: `Delete queue ${name} and its messages?`, testid: 'queue-delete',
          run: async () => {
            try {
              await call('DELETE', path);
              app.go('#/queues');
            } catch (e) {
              status(actionSt, errorText(e), true);
            }
          },
        })),
      actionSt),
  );

  let first = true;
  return {
    title: `Queue ${name}`,
    async refresh() {
      const [q, cons] = await Promise.all([get(path), get(`/api/consumers/${enc(vhost)}`).catch(() => null)]);
      const ms = q.message_stats || {};
      replace(counts, table({
        testid: 'queue-counts-table', key: (r) => r[0],
        rows: [
          ['ready', 'Ready', q.messages_ready, q.messages_ready_details, q.message_bytes_ready],
          ['unacked', 'Unacked', q.messages_unacknowledged, q.messages_unacknowledged_details, q.message_bytes_unacknowledged],
          ['total', 'Total', q.messages, q.messages_details, q.message_bytes],
        ],
        cols: [
          { label: 'Messages', cell: (r) => r[1] },
          { label: 'Count', num: true, cell: (r) => h('span', { testid: `count-${r[0]}` }, num(r[2])) },
          { label: 'Change', num: true, cell: (r) => rate(r[3]) },
          { label: 'Bytes', num: true, cell: (r) => bytes(r[4]) },
        ],
      }), kv([
        ['Persistent', num(q.messages_persistent)],
        ['Paged out', q.messages_paged_out ? num(q.messages_paged_out) : ''],
        ['Incoming', rate(ms.publish_details)],
        ['Deliver / get', rate(ms.deliver_get_details)],
        ['Redelivered', rate(ms.redeliver_details)],
        ['Ack', rate(ms.ack_details)],
      ], 'queue-rates'));
      replace(details, kv([
        ['Virtual host', q.vhost],
        ['Type', q.type],
        ['State', q.state],
        ['Features', features(q)],
        ['Durable', String(q.durable)],
        ['Auto delete', String(q.auto_delete)],
        ['Exclusive', String(q.exclusive)],
        ['Owner', q.owner_pid_details?.name],
        ['Consumers', num(q.consumers)],
        ['Policy', q.policy],
        ['Arguments', args(q.arguments, 'queue-arguments')],
      ]));
      const mine = (cons || []).filter((c) => c.queue && c.queue.name === name);
      replace(consumers, cons === null ? h('p', { class: 'muted' }, 'Consumers are not available to this user.') : table({
        testid: 'consumers-table', empty: 'No consumers.', rows: mine, key: (c) => c.consumer_tag,
        cols: [
          { label: 'Channel', cell: (c) => h('span', { class: 'mono' }, c.channel_details?.name || '') },
          { label: 'Consumer tag', cell: (c) => h('span', { class: 'mono' }, c.consumer_tag) },
          { label: 'Ack required', cell: (c) => (c.ack_required ? 'yes' : 'no') },
          { label: 'Exclusive', cell: (c) => (c.exclusive ? 'yes' : 'no') },
          { label: 'Prefetch', num: true, cell: (c) => num(c.prefetch_count) },
          { label: 'Arguments', cell: (c) => args(c.arguments) },
        ],
      }));
      if (first) {
        first = false;
        await reloadBindings();
      }
      if (peekLive.checked) {
        try {
          status(peekSt, await peek(), false);
        } catch (e) {
          status(peekSt, errorText(e), true);
        }
      }
    },
  };
}
