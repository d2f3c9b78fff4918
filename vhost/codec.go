package vhost

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/warrenmq/warren/amqp/wire"
)

// On-disk records. Every value starts with a version byte; a record of an unknown
// version is refused at recovery (the store's FORMAT file guards the folder as a whole,
// these guard the records vhost owns).
const recordV1 = 1

var errRecord = errors.New("vhost: undecodable store record")

// Message record (the data given to store.Batch.PutMessage):
//
//	version 1, flags (bit 0: has priority), priority, ts int64 (publish time, Unix ns),
//	lp exchange, lp routing key, uint16 property flags, lp properties,
//	uvarint number of CC/BCC keys, lp each, then the body to the end.
//
// lp = uvarint length + bytes. ts lets a paged or recovered message expire when it
// would have in memory: RabbitMQ keeps the expiry as an absolute time too.
func appendMessage(dst []byte, m *Message) []byte {
	dst = append(dst, recordV1, 0, m.Priority)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.ts))
	dst = appendLP(dst, m.Exchange)
	dst = appendLP(dst, m.RoutingKey)
	dst = binary.BigEndian.AppendUint16(dst, m.Flags)
	dst = binary.AppendUvarint(dst, uint64(len(m.Props)))
	dst = append(dst, m.Props...)
	dst = binary.AppendUvarint(dst, uint64(len(m.ccKeys)))
	for _, k := range m.ccKeys {
		dst = appendLP(dst, k)
	}
	return append(dst, m.Body...)
}

// messageSize is how many bytes appendMessage adds for m, at most.
func messageSize(m *Message) int {
	n := 3 + 8 + 3*binary.MaxVarintLen64 + len(m.Exchange) + len(m.RoutingKey) + 2 + len(m.Props) + len(m.Body)
	for _, k := range m.ccKeys {
		n += binary.MaxVarintLen64 + len(k)
	}
	return n
}

// decodeMessage reverses appendMessage. The message owns data afterwards (Props and
// Body are views into it).
func decodeMessage(data []byte) (*Message, error) {
	d := recordReader{b: data}
	if v := d.byte(); v != recordV1 {
		return nil, fmt.Errorf("%w: message version %d", errRecord, v)
	}
	d.byte()
	m := &Message{Persistent: true}
	m.Priority = d.byte()
	m.ts = int64(d.u64())
	m.Exchange = d.str()
	m.RoutingKey = d.str()
	m.Flags = d.u16()
	m.Props = d.bytes()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: %d CC keys", errRecord, n)
		}
		m.ccKeys = make([]string, n)
		for i := range m.ccKeys {
			m.ccKeys[i] = d.str()
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	m.Body = d.b
	if len(m.Props) > 0 {
		h := wire.ContentHeader{Flags: m.Flags, Props: m.Props}
		if exp := h.Expiration(); exp != nil {
			m.ttl, m.hasTTL, _ = parseExpiration(exp)
		}
	}
	return m, nil
}

func appendLP(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// recordReader decodes records; the first error sticks.
type recordReader struct {
	b   []byte
	err error
}

func (d *recordReader) fail() {
	if d.err == nil {
		d.err = errRecord
	}
	d.b = nil
}

func (d *recordReader) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *recordReader) u16() uint16 {
	if len(d.b) < 2 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

func (d *recordReader) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *recordReader) str() string { return string(d.bytes()) }

// table reads an encoded field table (4-byte length first) to the end of the record.
func (d *recordReader) table() wire.Table {
	if d.err != nil {
		return nil
	}
	if len(d.b) == 0 {
		return nil
	}
	t, err := wire.DecodeTable(d.b)
	if err != nil {
		d.err = fmt.Errorf("%w: %v", errRecord, err)
		return nil
	}
	d.b = nil
	if len(t) == 0 {
		return nil
	}
	return t
}

// Entity keys and records (store.KindVhost, KindExchange, KindQueue, KindBinding).
//
//	vhost    key: name                                  value: version
//	exchange key: lp vhost, name                        value: version, lp kind, flags, uvarint sid, args table
//	queue    key: lp vhost, name                        value: version, flags, uvarint sid, uvarint ix, args table
//	binding  key: lp vhost, src sid64, 'q'|'x', dst sid64, sha256(lp key, args)[:16]
//	         value: version, lp src, 'q'|'x', lp dst, uvarint src sid, uvarint dst sid, lp key, args table
//
// A sid names one incarnation of an exchange or queue: a binding record whose sids do
// not match the entities recovered under its names belongs to an entity deleted (and
// perhaps re-created) before a crash, and is dropped. A queue's ix names its message
// index in the store (store queue name: ix as 8 bytes); a purge moves the queue to a
// fresh ix (see Queue.purgeStoredLocked). Predeclared exchanges are never stored; their
// sid is 0.
const (
	flagAutoDelete = 1 << 0
	flagInternal   = 1 << 1
)

func nameKey(vhost, name string) string {
	b := binary.AppendUvarint(make([]byte, 0, 2+len(vhost)+len(name)), uint64(len(vhost)))
	b = append(b, vhost...)
	return string(append(b, name...))
}

func splitNameKey(key string) (vhost, name string, err error) {
	n, w := binary.Uvarint([]byte(key))
	if w <= 0 || uint64(len(key)-w) < n {
		return "", "", fmt.Errorf("%w: key %q", errRecord, key)
	}
	return key[w : w+int(n)], key[w+int(n):], nil
}

func appendArgs(dst []byte, args wire.Table) ([]byte, error) {
	if len(args) == 0 {
		return dst, nil
	}
	return wire.AppendTable(dst, args)
}

func encodeExchange(x *Exchange) ([]byte, error) {
	var flags byte
	if x.autoDelete {
		flags |= flagAutoDelete
	}
	if x.internal {
		flags |= flagInternal
	}
	b := appendLP([]byte{recordV1}, x.kind)
	b = append(b, flags)
	b = binary.AppendUvarint(b, x.sid)
	return appendArgs(b, x.args)
}

type exchangeRecord struct {
	kind                 string
	autoDelete, internal bool
	sid                  uint64
	args                 wire.Table
}

func decodeExchange(val []byte) (exchangeRecord, error) {
	d := recordReader{b: val}
	var r exchangeRecord
	if v := d.byte(); v != recordV1 {
		return r, fmt.Errorf("%w: exchange record version %d", errRecord, v)
	}
	r.kind = d.str()
	flags := d.byte()
	r.autoDelete, r.internal = flags&flagAutoDelete != 0, flags&flagInternal != 0
	r.sid = d.uvarint()
	r.args = d.table()
	return r, d.err
}

func encodeQueue(q *Queue, ix uint64) ([]byte, error) {
	var flags byte
	if q.autoDelete {
		flags |= flagAutoDelete
	}
	b := []byte{recordV1, flags}
	b = binary.AppendUvarint(b, q.sid)
	b = binary.AppendUvarint(b, ix)
	return appendArgs(b, q.args)
}

type queueRecord struct {
	autoDelete bool
	sid, ix    uint64
	args       wire.Table
}

func decodeQueue(val []byte) (queueRecord, error) {
	d := recordReader{b: val}
	var r queueRecord
	if v := d.byte(); v != recordV1 {
		return r, fmt.Errorf("%w: queue record version %d", errRecord, v)
	}
	r.autoDelete = d.byte()&flagAutoDelete != 0
	r.sid = d.uvarint()
	r.ix = d.uvarint()
	r.args = d.table()
	return r, d.err
}

// indexName is the store's name for a queue's message index.
func indexName(ix uint64) string {
	return string(binary.BigEndian.AppendUint64(make([]byte, 0, 8), ix))
}

func parseIndexName(s string) (uint64, bool) {
	if len(s) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(s)), true
}

type bindingRecord struct {
	src, dst       string
	toQueue        bool
	srcSID, dstSID uint64
	key            string
	args           wire.Table
}

func bindingKind(toQueue bool) byte {
	if toQueue {
		return 'q'
	}
	return 'x'
}

// encodeBinding returns the binding's entity key and record.
func encodeBinding(vhost string, r bindingRecord) (key string, val []byte, err error) {
	args, err := appendArgs(nil, r.args)
	if err != nil {
		return "", nil, err
	}
	h := sha256.New()
	h.Write(appendLP(nil, r.key))
	h.Write(args)
	k := binary.AppendUvarint(nil, uint64(len(vhost)))
	k = append(k, vhost...)
	k = binary.BigEndian.AppendUint64(k, r.srcSID)
	k = append(k, bindingKind(r.toQueue))
	k = binary.BigEndian.AppendUint64(k, r.dstSID)
	k = h.Sum(k)[:len(k)+16]

	v := appendLP([]byte{recordV1}, r.src)
	v = append(v, bindingKind(r.toQueue))
	v = appendLP(v, r.dst)
	v = binary.AppendUvarint(v, r.srcSID)
	v = binary.AppendUvarint(v, r.dstSID)
	v = appendLP(v, r.key)
	return string(k), append(v, args...), nil
}

func decodeBinding(val []byte) (bindingRecord, error) {
	d := recordReader{b: val}
	var r bindingRecord
	if v := d.byte(); v != recordV1 {
		return r, fmt.Errorf("%w: binding record version %d", errRecord, v)
	}
	r.src = d.str()
	r.toQueue = d.byte() == 'q'
	r.dst = d.str()
	r.srcSID = d.uvarint()
	r.dstSID = d.uvarint()
	r.key = d.str()
	r.args = d.table()
	return r, d.err
}
