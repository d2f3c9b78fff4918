package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestXDeathRecord writes testdata/xdeath/<scenario>.hex from the broker at AMQP_URL (RabbitMQ 3.10.8,
// conformance/rabbitmq.sh) when XDEATH_RECORD=1:
//
//	XDEATH_RECORD=1 AMQP_URL=amqp://guest:guest@127.0.0.1:5692/ go test -count=1 -run TestXDeathRecord ./conformance
func TestXDeathRecord(t *testing.T) {
	url := os.Getenv("AMQP_URL")
	if os.Getenv("XDEATH_RECORD") == "" || url == "" {
		t.Skip("set XDEATH_RECORD=1 and AMQP_URL to record golden files")
	}
	for _, s := range xdeathScenarios {
		var text string
		c := Check{Name: "x-death/bytes-" + s.name, Run: func(e *Env) error {
			conn := e.Dial()
			h, raw := xdeathCapture(e, s)
			got, mask := masked(raw, h.timeOffsets())
			text = formatGolden(fmt.Sprintf("x-death/bytes-%s: the content header (frame payload) of the dead-lettered message,\nfrom %v %v on %s; the random part of each name replaced by its index.\n%s",
				s.name, conn.Properties["product"], conn.Properties["version"], time.Now().UTC().Format("2006-01-02"), s.rule), got, mask)
			return nil
		}}
		r := RunCheck(context.Background(), url, c)
		if r.Err != nil || r.Skipped != "" {
			t.Fatalf("%s: %v %s", s.name, r.Err, r.Skipped)
		}
		if err := os.WriteFile(filepath.Join("testdata", "xdeath", s.name+".hex"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Every golden file parses, encodes back to itself, and has one masked time per x-death entry.
func TestXDeathGoldenRoundTrip(t *testing.T) {
	for _, s := range xdeathScenarios {
		t.Run(s.name, func(t *testing.T) {
			text, err := xdeathGolden.ReadFile("testdata/xdeath/" + s.name + ".hex")
			if err != nil {
				t.Fatal(err)
			}
			g, err := parseGolden(string(text))
			if err != nil {
				t.Fatal(err)
			}
			h, err := parseXHeader(g.b)
			if err != nil {
				t.Fatal(err)
			}
			if back := h.bytes(); string(back) != string(g.b) {
				t.Fatalf("encode(parse(golden)) differs: %s", diffBytes(g.b, back))
			}
			_, mask := masked(g.b, h.timeOffsets())
			if len(mask) != len(g.mask) {
				t.Fatalf("golden masks %d bytes, the x-death times are %d bytes", len(g.mask), len(mask))
			}
			for o := range g.mask {
				if !mask[o] {
					t.Fatalf("golden masks byte %d, which is no x-death time", o)
				}
			}
			xd, ok := h.find("x-death")
			if !ok || xd.tag != 'A' || len(xd.arr) == 0 {
				t.Fatalf("no x-death array in the golden header")
			}
			// The 3.13 form adds the three x-last-death headers, and is still a valid header.
			h13, err := parseXHeader(to313(h).bytes())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"x-last-death-exchange", "x-last-death-queue", "x-last-death-reason"} {
				if v, ok := h13.find(k); !ok || v.tag != 'S' {
					t.Errorf("3.13 form lacks %s", k)
				}
			}
			for i := 1; i < len(h13.headers); i++ {
				if h13.headers[i-1].key >= h13.headers[i].key {
					t.Errorf("3.13 form: headers not sorted at %q", h13.headers[i].key)
				}
			}
		})
	}
}

// The comparison fails on any byte difference outside the masked times, and passes on other times.
func TestXDeathCompareFailsOnAnyByte(t *testing.T) {
	text, err := xdeathGolden.ReadFile("testdata/xdeath/twice.hex")
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGolden(string(text))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := parseXHeader(g.b)
	offs := h.timeOffsets()
	for i := range g.b {
		mut := append([]byte(nil), g.b...)
		mut[i] ^= 0x01
		got, _ := masked(mut, offs)
		if g.mask[i] {
			if diffBytes(g.b, got) != "" {
				t.Fatalf("a different time (byte %d) fails the comparison", i)
			}
			continue
		}
		if diffBytes(g.b, got) == "" {
			t.Fatalf("flipping byte %d passes the comparison", i)
		}
	}
	if !strings.Contains(diffBytes(g.b, g.b[:len(g.b)-1]), "first difference") {
		t.Fatal("a shorter header passes")
	}
}
