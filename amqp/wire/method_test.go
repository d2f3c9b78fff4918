package wire

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// allMethods returns a fresh value of every generated method, in id order.
func allMethods() []Method {
	var ms []Method
	for c := range 256 {
		for m := range 256 {
			if v := newMethod(uint16(c), uint16(m)); v != nil {
				ms = append(ms, v)
			}
		}
	}
	return ms
}

// fill sets every field of the struct v points to a non-zero value derived from seed.
func fill(v reflect.Value, seed int) {
	v = v.Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		n := seed + i + 1
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("%s-%d-é", v.Type().Field(i).Name, n))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			v := uint64(n)*0x0102030405060708 + 1 // odd, so never zero in any width
			f.SetUint(v>>(64-8*f.Type().Size()) | 1)
		case reflect.Map:
			f.Set(reflect.ValueOf(Table{"k": "v", "n": int64(n), "nested": Table{"deep": true}}))
		default:
			panic("fill: unhandled kind " + f.Kind().String())
		}
	}
}

func TestEveryMethodRoundTrips(t *testing.T) {
	ms := allMethods()
	if len(ms) < 50 {
		t.Fatalf("only %d methods generated", len(ms))
	}
	for _, m := range ms {
		t.Run(m.Name(), func(t *testing.T) {
			fill(reflect.ValueOf(m), int(m.MethodID()))
			enc := m.Append(nil)
			got, err := DecodeMethod(enc)
			if err != nil {
				t.Fatalf("decoding % x: %v", enc, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got, m)
			}
			if got.ClassID() != m.ClassID() || got.MethodID() != m.MethodID() || MethodName(m.ClassID(), m.MethodID()) != m.Name() {
				t.Fatalf("ids or name differ")
			}
			// Through the reusable set, twice: the second decode reuses the first's strings.
			var set Methods
			for range 2 {
				got, err = set.Decode(enc)
				if err != nil || !reflect.DeepEqual(got, m) {
					t.Fatalf("Methods.Decode: %v\n got %#v\nwant %#v", err, got, m)
				}
			}
			// Each bit on its own, so that packing mistakes (two flags in one bit) show.
			v := reflect.ValueOf(m).Elem()
			for i := range v.NumField() {
				if v.Field(i).Kind() != reflect.Bool {
					continue
				}
				for j := range v.NumField() {
					if v.Field(j).Kind() == reflect.Bool {
						v.Field(j).SetBool(i == j)
					}
				}
				got, err := DecodeMethod(m.Append(nil))
				if err != nil || !reflect.DeepEqual(got, m) {
					t.Fatalf("only %s set: %v\n got %#v\nwant %#v", v.Type().Field(i).Name, err, got, m)
				}
			}
		})
	}
}

// The RabbitMQ extensions that clients rely on are generated with RabbitMQ's ids.
func TestExtensionsPresent(t *testing.T) {
	want := map[string][2]uint16{
		"confirm.select": {85, 10}, "confirm.select-ok": {85, 11}, "basic.nack": {60, 120},
		"exchange.bind": {40, 30}, "exchange.bind-ok": {40, 31}, "exchange.unbind": {40, 40}, "exchange.unbind-ok": {40, 51},
		"connection.blocked": {10, 60}, "connection.unblocked": {10, 61},
		"connection.update-secret": {10, 70}, "connection.update-secret-ok": {10, 71},
		"basic.publish": {60, 40}, "basic.deliver": {60, 60}, "basic.get-ok": {60, 71}, "basic.return": {60, 50},
	}
	for name, ids := range want {
		m := newMethod(ids[0], ids[1])
		if m == nil || m.Name() != name {
			t.Errorf("%s: ids %v give %v", name, ids, m)
		}
	}
	for _, m := range allMethods() {
		content := map[string]bool{"basic.publish": true, "basic.return": true, "basic.deliver": true, "basic.get-ok": true}[m.Name()]
		if m.HasContent() != content {
			t.Errorf("%s: HasContent() = %v", m.Name(), m.HasContent())
		}
	}
}

func TestMethodWireBytes(t *testing.T) {
	cases := []struct {
		m    Method
		want string // hex of the arguments after the ids
	}{
		{&BasicPublish{Exchange: "ex", RoutingKey: "rk", Mandatory: true}, "0000 02 6578 02 726b 01"},
		{&BasicPublish{Immediate: true}, "0000 00 00 02"},
		{&BasicAck{DeliveryTag: 0x0102030405060708, Multiple: true}, "0102030405060708 01"},
		{&BasicNack{DeliveryTag: 1, Multiple: false, Requeue: true}, "0000000000000001 02"},
		{&QueueDeclare{Queue: "q", Durable: true, NoWait: true, Arguments: Table{}}, "0000 01 71 12 00000000"},
		{&ExchangeDeclare{Exchange: "e", Type: "topic", AutoDelete: true, Internal: true, Arguments: Table{}}, "0000 01 65 05 746f706963 0c 00000000"},
		{&ConnectionOpen{VirtualHost: "/"}, "01 2f 00 00"},
		{&ConnectionClose{ReplyCode: 320, ReplyText: "bye", FailingClassID: 60, FailingMethodID: 40}, "0140 03 627965 003c 0028"},
		{&ChannelOpenOk{}, "00000000"},
		{&ConfirmSelect{NoWait: true}, "01"},
		{&BasicQos{PrefetchSize: 1, PrefetchCount: 2, Global: true}, "00000001 0002 01"},
	}
	for _, tc := range cases {
		t.Run(tc.m.Name(), func(t *testing.T) {
			got := tc.m.Append(nil)
			want := fmt.Sprintf("%04x%04x%s", tc.m.ClassID(), tc.m.MethodID(), strings.ReplaceAll(tc.want, " ", ""))
			if fmt.Sprintf("%x", got) != want {
				t.Fatalf("got %x, want %s", got, want)
			}
		})
	}
}

func TestDecodeMethodErrors(t *testing.T) {
	publish := (&BasicPublish{Exchange: "ex", RoutingKey: "rk"}).Append(nil)
	cases := []struct {
		name              string
		payload           []byte
		code              uint16
		classID, methodID uint16
	}{
		{"empty", nil, FrameError, 0, 0},
		{"three bytes", []byte{0, 60, 0}, FrameError, 0, 0},
		{"unknown class", []byte{0, 99, 0, 10}, NotImplemented, 99, 10},
		{"unknown method", []byte{0, 60, 0, 99}, NotImplemented, 60, 99},
		{"truncated", publish[:len(publish)-1], FrameError, 60, 40},
		{"trailing byte", append(append([]byte(nil), publish...), 0), FrameError, 60, 40},
		{"shortstr past the end", []byte{0, 60, 0, 40, 0, 0, 200, 'x'}, FrameError, 60, 40},
		{"bad table tag", append((&QueueDeclare{Queue: "q"}).Append(nil)[:4+2+2+1], 0, 0, 0, 3, 1, 'k', 'Z'), SyntaxError, 50, 10},
		{"bad UTF-8 in queue name", []byte{0, 50, 0, 10, 0, 0, 1, 0xFF, 0, 0, 0, 0, 0}, FrameError, 50, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, decode := range []func([]byte) (Method, error){DecodeMethod, new(Methods).Decode} {
				m, err := decode(tc.payload)
				if m != nil {
					t.Fatalf("got a method %#v with the error", m)
				}
				e := wantException(t, err, tc.code)
				if e.ClassID != tc.classID || e.MethodID != tc.methodID {
					t.Fatalf("exception names %d.%d, want %d.%d (%v)", e.ClassID, e.MethodID, tc.classID, tc.methodID, e)
				}
			}
		})
	}
}

// Every method cut short at every length is a 501 (RabbitMQ's "cannot decode"),
// or a 502 when the cut falls inside a field table; never a panic or a success.
func TestEveryMethodTruncated(t *testing.T) {
	for _, m := range allMethods() {
		fill(reflect.ValueOf(m), 1)
		enc := m.Append(nil)
		for n := 4; n < len(enc); n++ {
			if _, err := DecodeMethod(enc[:n]); err == nil {
				t.Fatalf("%s cut to %d of %d bytes decoded", m.Name(), n, len(enc))
			} else if e := (*Exception)(nil); !errors.As(err, &e) || (e.Code != FrameError && e.Code != SyntaxError) {
				t.Fatalf("%s cut to %d bytes: %v, want 501 or 502", m.Name(), n, err)
			}
		}
	}
}

func TestMethodsDecodeReusesStrings(t *testing.T) {
	var set Methods
	a := AppendMethodFrame(nil, 1, &BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.eu"})[7:]
	a = a[:len(a)-1]
	m1, err := set.Decode(a)
	if err != nil {
		t.Fatal(err)
	}
	key1 := m1.(*BasicPublish).RoutingKey
	m2, err := set.Decode(bytes.Clone(a))
	if err != nil {
		t.Fatal(err)
	}
	key2 := m2.(*BasicPublish).RoutingKey
	if unsafe.StringData(key1) != unsafe.StringData(key2) {
		t.Fatal("an equal routing key was not reused")
	}
	b := (&BasicPublish{Exchange: "amq.topic", RoutingKey: "orders.us"}).Append(nil)
	m3, _ := set.Decode(b)
	if got := m3.(*BasicPublish).RoutingKey; got != "orders.us" || key1 != "orders.eu" {
		t.Fatalf("a changed key: got %q, and the old string became %q", got, key1)
	}
}

func TestMethodsDecodeAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var set Methods
	for _, m := range []Method{
		&BasicPublish{Exchange: "amq.direct", RoutingKey: "orders", Mandatory: true},
		&BasicAck{DeliveryTag: 7, Multiple: true},
		&BasicNack{DeliveryTag: 7, Requeue: true},
		&BasicReject{DeliveryTag: 7},
		&BasicDeliver{ConsumerTag: "ctag", DeliveryTag: 9, Exchange: "x", RoutingKey: "k"},
	} {
		enc := m.Append(nil)
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := set.Decode(enc); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Methods.Decode(%s) allocates %v times, want 0", m.Name(), n)
		}
	}
}

func TestExceptionText(t *testing.T) {
	e := Soft(NotFound, "no queue '%s' in vhost '%s'", "q", "/")
	if got := e.Error(); got != "NOT_FOUND - no queue 'q' in vhost '/'" {
		t.Fatalf("Error() = %q", got)
	}
	if e.Hard || !Hard(NotFound, "x").Hard {
		t.Fatal("Soft/Hard set the wrong scope")
	}
	if got := Hard(FrameError, "100%").Text; got != "100%" {
		t.Fatalf("a text without arguments was formatted: %q", got)
	}
	long := Soft(NotFound, "%s", strings.Repeat("x", 300))
	if rt := long.ReplyText(); len(rt) != 255 || !strings.HasSuffix(rt, "...") {
		t.Fatalf("ReplyText of a long text: %d bytes, %q", len(rt), rt[len(rt)-5:])
	}
	if got := (&Exception{Code: 999, Text: "t"}).Error(); got != "REPLY_CODE_999 - t" {
		t.Fatalf("unknown code: %q", got)
	}
	cc := Hard(ChannelError, "no channel").ConnectionClose()
	if cc.ReplyCode != 504 || cc.ReplyText != "CHANNEL_ERROR - no channel" {
		t.Fatalf("ConnectionClose() = %+v", cc)
	}
}

func TestReplyCodes(t *testing.T) {
	cases := []struct {
		code uint16
		name string
		hard bool
	}{
		{ReplySuccess, "REPLY_SUCCESS", false}, {ContentTooLarge, "CONTENT_TOO_LARGE", false}, {NoRoute, "NO_ROUTE", false},
		{NoConsumers, "NO_CONSUMERS", false}, {ConnectionForced, "CONNECTION_FORCED", true}, {InvalidPath, "INVALID_PATH", true},
		{AccessRefused, "ACCESS_REFUSED", false}, {NotFound, "NOT_FOUND", false}, {ResourceLocked, "RESOURCE_LOCKED", false},
		{PreconditionFailed, "PRECONDITION_FAILED", false}, {FrameError, "FRAME_ERROR", true}, {SyntaxError, "SYNTAX_ERROR", true},
		{CommandInvalid, "COMMAND_INVALID", true}, {ChannelError, "CHANNEL_ERROR", true}, {UnexpectedFrame, "UNEXPECTED_FRAME", true},
		{ResourceError, "RESOURCE_ERROR", true}, {NotAllowed, "NOT_ALLOWED", true}, {NotImplemented, "NOT_IMPLEMENTED", true},
		{InternalError, "INTERNAL_ERROR", true},
	}
	wantCodes := []uint16{200, 311, 312, 313, 320, 402, 403, 404, 405, 406, 501, 502, 503, 504, 505, 506, 530, 540, 541}
	for i, tc := range cases {
		if tc.code != wantCodes[i] {
			t.Errorf("%s = %d, want %d", tc.name, tc.code, wantCodes[i])
		}
		if ReplyName(tc.code) != tc.name || IsHardCode(tc.code) != tc.hard {
			t.Errorf("%d: name %q hard %v, want %q %v", tc.code, ReplyName(tc.code), IsHardCode(tc.code), tc.name, tc.hard)
		}
	}
	if ReplyName(1) != "" || IsHardCode(1) {
		t.Error("an unknown code has a name or is hard")
	}
}
