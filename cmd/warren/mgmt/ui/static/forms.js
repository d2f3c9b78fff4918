// forms.js: pieces the exchange and queue pages share: the arguments box, the publish
// form, the add-binding form, the bindings table and a message's card.

import { call, enc } from './api.js';
import { h, field, select, parseArgs, submitting, status, table, args, kv, value, num, confirmButton, errorText, time } from './dom.js';

// argsField is a textarea of "key = value" lines (dom.parseArgs).
export function argsField(label, testid, hint) {
  const ta = h('textarea', { rows: 3, testid, spellcheck: 'false', placeholder: 'x-message-ttl = 60000' });
  return { el: field(label, ta, hint || 'One "key = value" per line; numbers, true/false and "quoted" values are JSON.'), read: () => parseArgs(ta.value), ta };
}

export function vhostField(app, testid) {
  const sel = select({ testid }, app.vhosts.length ? app.vhosts : ['/'], app.defaultVHost());
  return { el: field('Virtual host', sel), sel };
}

// String properties of basic.publish: a value typed as 42 is still sent as "42".
const STRING_PROPS = new Set(['content_type', 'content_encoding', 'correlation_id', 'reply_to', 'expiration',
  'message_id', 'type', 'user_id', 'app_id', 'cluster_id']);

// publishForm publishes through POST /api/exchanges/{vhost}/{exchange}/publish. With
// fixedKey (the queue page) the routing key is the queue's name and is not asked for.
export function publishForm({ vhost, exchange, fixedKey, prefix, onDone }) {
  const key = h('input', { testid: `${prefix}-routing-key`, autocomplete: 'off' });
  const mode = select({ testid: `${prefix}-delivery-mode` }, [['1', '1 – non-persistent'], ['2', '2 – persistent']], '1');
  const headers = argsField('Headers', `${prefix}-headers`, 'One "key = value" per line.');
  const props = argsField('Properties', `${prefix}-properties`,
    'One per line: content_type, message_id, correlation_id, reply_to, expiration, priority, type, app_id, timestamp.');
  props.ta.placeholder = 'content_type = application/json';
  headers.ta.placeholder = 'x-trace = on';
  const payload = h('textarea', { rows: 5, testid: `${prefix}-payload`, spellcheck: 'false' });
  const encoding = select({ testid: `${prefix}-encoding` }, [['string', 'String'], ['base64', 'Base64']], 'string');
  const st = h('p', { class: 'status', testid: `${prefix}-status`, 'aria-live': 'polite' });
  const form = h('form', { class: 'form', testid: `${prefix}-form`, novalidate: true },
    fixedKey === undefined ? field('Routing key', key) : h('p', { class: 'muted' },
      'Published to the default exchange with the queue\'s name as the routing key.'),
    h('div', { class: 'row narrow' }, field('Delivery mode', mode), field('Payload encoding', encoding)),
    h('div', { class: 'row' }, headers.el, props.el),
    field('Payload', payload),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: `${prefix}-submit` }, 'Publish message')),
    st);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(form, st, async () => {
      const p = props.read();
      for (const k of Object.keys(p)) if (STRING_PROPS.has(k) && typeof p[k] !== 'string') p[k] = value(p[k]);
      const hdrs = headers.read();
      if (Object.keys(hdrs).length) p.headers = hdrs;
      p.delivery_mode = Number(mode.value);
      const r = await call('POST', `/api/exchanges/${enc(vhost)}/${enc(exchange || 'amq.default')}/publish`, {
        routing_key: fixedKey === undefined ? key.value : fixedKey, properties: p,
        payload: payload.value, payload_encoding: encoding.value,
      });
      if (onDone) await onDone();
      return r.routed ? 'Message published.' : 'Message published, but not routed to any queue.';
    });
  });
  return form;
}

// bindingForm adds a binding: from this exchange to a queue or exchange (source set),
// or from an exchange to this queue (queue set). suggest(kind) returns a promise of the
// names the name field suggests: kind is "q" or "e", the destination type chosen.
export function bindingForm({ vhost, source, queue, prefix, suggest, onDone }) {
  const dtype = select({ testid: `${prefix}-dest-type` }, [['q', 'Queue'], ['e', 'Exchange']], 'q');
  const other = h('input', { testid: `${prefix}-name`, autocomplete: 'off', required: true });
  const key = h('input', { testid: `${prefix}-routing-key`, autocomplete: 'off' });
  const a = argsField('Arguments', `${prefix}-args`, 'For a headers exchange: x-match = all, then the headers to match.');
  a.ta.placeholder = 'x-match = all';
  const st = h('p', { class: 'status', testid: `${prefix}-status`, 'aria-live': 'polite' });
  const form = h('form', { class: 'form', testid: `${prefix}-form`, novalidate: true },
    h('div', { class: 'row' },
      queue === undefined && field('To', dtype),
      field(queue === undefined ? 'Destination name' : 'From exchange', other),
      field('Routing key', key)),
    h('datalist', { id: `${prefix}-names` }),
    a.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', testid: `${prefix}-submit` }, 'Bind')),
    st);
  other.setAttribute('list', `${prefix}-names`);
  const fill = () => {
    if (!suggest) return;
    const kind = queue === undefined ? dtype.value : 'e';
    suggest(kind).then((names) => {
      if (kind === (queue === undefined ? dtype.value : 'e')) {
        form.querySelector('datalist').replaceChildren(...names.filter((n) => n).sort().map((n) => h('option', { value: n })));
      }
    }, () => {});
  };
  dtype.addEventListener('change', fill);
  fill();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(form, st, async () => {
      if (!other.value) throw new Error(queue === undefined ? 'Enter the destination\'s name.' : 'Enter the exchange\'s name.');
      const path = queue === undefined
        ? `/api/bindings/${enc(vhost)}/e/${enc(source)}/${dtype.value}/${enc(other.value)}`
        : `/api/bindings/${enc(vhost)}/e/${enc(other.value)}/q/${enc(queue)}`;
      await call('POST', path, { routing_key: key.value, arguments: a.read() });
      if (onDone) await onDone();
      return 'Binding added.';
    });
  });
  return form;
}

export function exchangeLabel(name) {
  return name === '' ? '(AMQP default)' : name;
}

export function exchangeHref(vhost, name) {
  return `#/exchanges/${enc(vhost)}/${enc(name === '' ? 'amq.default' : name)}`;
}

export function queueHref(vhost, name) {
  return `#/queues/${enc(vhost)}/${enc(name)}`;
}

// bindingsTable lists bindings with an Unbind button each; the default exchange's
// implicit bindings have none (they cannot be removed).
export function bindingsTable({ rows, testid, show, msg, onDone }) {
  return table({
    testid, empty: 'No bindings.', rows, key: (b) => `${b.source}>${b.destination_type}:${b.destination}:${b.properties_key}`,
    cols: [
      show.includes('source') && { label: 'From', cell: (b) => (b.source === '' ? '(AMQP default)' : h('a', { href: exchangeHref(b.vhost, b.source) }, b.source)) },
      show.includes('destination') && { label: 'To', cell: (b) => h('a', { href: b.destination_type === 'queue' ? queueHref(b.vhost, b.destination) : exchangeHref(b.vhost, b.destination) },
        b.destination, ' ', h('span', { class: 'muted' }, `(${b.destination_type})`)) },
      { label: 'Routing key', cell: (b) => h('span', { class: 'mono' }, b.routing_key) },
      { label: 'Arguments', cell: (b) => args(b.arguments) },
      { label: 'Actions', cell: (b) => (b.source === '' ? h('span', { class: 'muted' }, 'implicit') : confirmButton({
        label: 'Unbind', confirm: 'Remove this binding?', testid: 'unbind',
        run: async () => {
          const kind = b.destination_type === 'queue' ? 'q' : 'e';
          try {
            await call('DELETE', `/api/bindings/${enc(b.vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`);
            status(msg, 'Binding removed.', false);
          } catch (e) {
            status(msg, errorText(e), true);
          }
          await onDone();
        },
      })) },
    ].filter(Boolean),
  });
}

// messageCard shows one message from get or peek: a summary line (place, state, routing
// key, type, size and the start of the payload) that opens to the properties, headers
// and payload (as text, or base64 when the API had to encode it).
export function messageCard(m, testid, open) {
  const p = { ...(m.properties || {}) };
  const headers = p.headers;
  delete p.headers;
  if (typeof p.timestamp === 'number') p.timestamp = `${p.timestamp} (${time(p.timestamp * 1000)})`;
  const b64 = m.payload_encoding === 'base64';
  const shownBytes = b64 ? Math.floor((m.payload.length * 3) / 4) - m.payload.match(/=*$/)[0].length : new TextEncoder().encode(m.payload).length;
  const truncated = shownBytes < m.payload_bytes;
  const preview = m.payload.replace(/\s+/g, ' ').slice(0, 200);
  let pretty = null; // a JSON object or list, indented for reading
  if (!b64 && !truncated && /^\s*[[{]/.test(m.payload)) {
    try {
      pretty = JSON.stringify(JSON.parse(m.payload), null, 2);
    } catch {
      pretty = null;
    }
  }
  return h('details', { class: `message ${m.state || ''}`, testid, 'data-position': m.position, open },
    h('summary', {},
      h('span', { class: 'msg-head' },
        m.position !== undefined && h('span', { class: 'pos' }, `#${m.position}`),
        m.state && h('span', { class: `badge ${m.state}`, testid: 'message-state' }, m.state),
        m.redelivered && h('span', { class: 'badge redelivered' }, 'redelivered'),
        h('span', { class: 'mono key', testid: 'message-routing-key', title: 'routing key' }, m.routing_key || '(empty key)'),
        h('span', { class: 'muted' }, 'via'),
        h('span', { class: 'mono', testid: 'message-exchange', title: 'exchange' }, exchangeLabel(m.exchange)),
        h('span', { class: 'muted right' }, [p.content_type, `${num(m.payload_bytes)} bytes`,
          m.message_count !== undefined && `${num(m.message_count)} left`].filter(Boolean).join(' · '))),
      h('span', { class: 'msg-preview mono', testid: 'message-preview' }, b64 ? `base64: ${preview}` : preview || '(empty body)')),
    h('div', { class: 'message-body' },
      h('div', { class: 'message-meta' },
        h('div', {}, h('h4', {}, 'Properties'), Object.keys(p).length ? kv(Object.keys(p).sort().map((k) => [k, value(p[k])]), 'message-properties') : h('span', { class: 'muted', testid: 'message-properties' }, 'none')),
        h('div', {}, h('h4', {}, 'Headers'), args(headers, 'message-headers'))),
      h('h4', {}, 'Payload', b64 ? ' (base64)' : '', pretty !== null ? ' (JSON, indented)' : '',
        truncated ? ` (first ${num(shownBytes)} of ${num(m.payload_bytes)} bytes)` : ''),
      h('pre', { class: 'payload', testid: 'message-payload', tabindex: '0' }, pretty ?? m.payload)));
}

// expandButtons opens or closes every message card in list.
export function expandButtons(list, prefix) {
  const set = (open) => list.querySelectorAll('details.message').forEach((d) => { d.open = open; });
  return [
    h('button', { type: 'button', testid: `${prefix}-expand`, onclick: () => set(true) }, 'Expand all'),
    h('button', { type: 'button', testid: `${prefix}-collapse`, onclick: () => set(false) }, 'Collapse all'),
  ];
}
