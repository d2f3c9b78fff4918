// exchanges.js: the exchange list with its declare form, and one exchange's page
// (details, bindings from and to it, add binding, publish, delete).

import { call, get, enc } from './api.js';
import { h, replace, field, select, submitting, table, kv, args, rate, features, confirmButton, status, errorText, filterBox } from './dom.js';
import { argsField, vhostField, publishForm, bindingForm, bindingsTable, exchangeLabel, exchangeHref } from './forms.js';

const TYPES = ['direct', 'fanout', 'topic', 'headers'];

export function mountList(root, _params, app) {
  const list = h('div', { testid: 'exchanges' });
  let rows = [];
  const filter = filterBox('exchanges-filter', () => draw());

  const vh = vhostField(app, 'exchange-vhost');
  const name = h('input', { testid: 'exchange-name', required: true, autocomplete: 'off' });
  const type = select({ testid: 'exchange-type' }, TYPES, 'direct');
  const durable = select({ testid: 'exchange-durable' }, [['true', 'Durable'], ['false', 'Transient']], 'true');
  const autoDelete = h('input', { type: 'checkbox', testid: 'exchange-auto-delete' });
  const internal = h('input', { type: 'checkbox', testid: 'exchange-internal' });
  const a = argsField('Arguments', 'exchange-args', 'e.g. alternate-exchange = my-ae');
  const st = h('p', { class: 'status', testid: 'exchange-declare-status', 'aria-live': 'polite' });
  const form = h('form', { class: 'form', testid: 'exchange-declare-form', novalidate: true },
    h('div', { class: 'row' }, vh.el, field('Name', name), field('Type', type), field('Durability', durable)),
    h('div', { class: 'row' }, field('Auto delete', autoDelete), field('Internal', internal)),
    a.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: 'exchange-declare-submit' }, 'Add exchange')),
    st);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(form, st, async () => {
      if (!name.value) throw new Error('Enter a name for the exchange.');
      await call('PUT', `/api/exchanges/${enc(vh.sel.value)}/${enc(name.value)}`, {
        type: type.value, durable: durable.value === 'true', auto_delete: autoDelete.checked,
        internal: internal.checked, arguments: a.read(),
      });
      const done = `Exchange ${name.value} declared.`;
      name.value = '';
      await app.refresh();
      return done;
    });
  });

  root.append(h('h1', {}, 'Exchanges'), h('div', { class: 'toolbar' }, filter.el), list,
    h('details', { class: 'panel', open: true }, h('summary', {}, h('h2', {}, 'Add a new exchange')), form));

  function draw() {
    const stats = rows.some((x) => x.message_stats);
    replace(list, table({
      testid: 'exchanges-table', empty: 'No exchanges.', key: (x) => `${x.vhost}/${x.name}`,
      rows: rows.filter((x) => filter.match(x.name || 'amq.default')),
      cols: [
        !app.vhost && { label: 'Virtual host', cell: (x) => x.vhost, sort: (x) => x.vhost },
        { label: 'Name', cell: (x) => h('a', { href: exchangeHref(x.vhost, x.name) }, exchangeLabel(x.name)), sort: (x) => x.name },
        { label: 'Type', cell: (x) => x.type, sort: (x) => x.type },
        { label: 'Features', cell: features },
        stats && { label: 'Rate in', num: true, cell: (x) => rate(x.message_stats?.publish_in_details), sort: (x) => x.message_stats?.publish_in_details?.rate },
        stats && { label: 'Rate out', num: true, cell: (x) => rate(x.message_stats?.publish_out_details), sort: (x) => x.message_stats?.publish_out_details?.rate },
      ].filter(Boolean),
    }));
  }

  return {
    title: 'Exchanges',
    async refresh() {
      rows = await get(app.vhost ? `/api/exchanges/${enc(app.vhost)}` : '/api/exchanges');
      draw();
    },
  };
}

export function mountExchange(root, [vhost, name], app) {
  const path = `/api/exchanges/${enc(vhost)}/${enc(name)}`;
  const details = h('div', { testid: 'exchange-details' });
  const msg = h('p', { class: 'status', 'aria-live': 'polite' });
  const from = h('div', { testid: 'exchange-bindings-source' });
  const to = h('div', { testid: 'exchange-bindings-destination' });
  const isDefault = name === 'amq.default' || name === '';
  const title = isDefault ? '(AMQP default)' : name;

  const reloadBindings = async () => {
    const [src, dst] = await Promise.all([get(`${path}/bindings/source`), get(`${path}/bindings/destination`)]);
    replace(from, bindingsTable({ rows: src, testid: 'bindings-from-table', show: ['destination'], msg, onDone: reloadBindings }));
    replace(to, bindingsTable({ rows: dst, testid: 'bindings-to-table', show: ['source'], msg, onDone: reloadBindings }));
  };

  const deleteSt = h('p', { class: 'status', testid: 'exchange-delete-status', 'aria-live': 'polite' });
  root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/exchanges' }, 'Exchanges'), ' › virtual host ', h('span', { class: 'mono' }, vhost)),
    h('h1', {}, 'Exchange ', h('span', { class: 'mono', testid: 'exchange-title' }, title)),
    msg,
    h('section', {}, h('h2', {}, 'Details'), details),
    h('section', {}, h('h2', {}, 'Bindings from this exchange'), from,
      !isDefault && h('details', { class: 'panel' }, h('summary', {}, h('h3', {}, 'Add a binding from this exchange')),
        bindingForm({ vhost, source: name, prefix: 'xbind', onDone: reloadBindings,
          suggest: (kind) => get(kind === 'q' ? `/api/queues/${enc(vhost)}` : `/api/exchanges/${enc(vhost)}`).then((os) => os.map((o) => o.name)) }))),
    h('section', {}, h('h2', {}, 'Bindings to this exchange'), to),
    h('section', {}, h('details', { class: 'panel' }, h('summary', {}, h('h2', {}, 'Publish a message')),
      publishForm({ vhost, exchange: isDefault ? 'amq.default' : name, prefix: 'xpublish' }))),
    !isDefault && !name.startsWith('amq.') && h('section', {}, h('h2', {}, 'Delete this exchange'),
      confirmButton({
        label: 'Delete exchange', confirm: `Delete exchange ${name}?`, testid: 'exchange-delete',
        run: async () => {
          try {
            await call('DELETE', path);
            app.go('#/exchanges');
          } catch (e) {
            status(deleteSt, errorText(e), true);
          }
        },
      }), deleteSt),
  );

  let first = true;
  return {
    title: `Exchange ${title}`,
    async refresh() {
      const x = await get(path);
      replace(details, kv([
        ['Virtual host', x.vhost],
        ['Type', x.type],
        ['Features', features(x)],
        ['Durable', String(x.durable)],
        ['Auto delete', String(x.auto_delete)],
        ['Internal', String(x.internal)],
        ['Arguments', args(x.arguments)],
        ['Rate in', rate(x.message_stats?.publish_in_details)],
        ['Rate out', rate(x.message_stats?.publish_out_details)],
      ]));
      if (first) {
        first = false;
        await reloadBindings();
      }
    },
  };
}
