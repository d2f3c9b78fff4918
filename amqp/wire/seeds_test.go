package wire_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/warrenmq/warren/amqp/wire"
)

// updateSeeds rewrites the fuzz seeds in testdata/fuzz from the frames amqp091-go
// sends in TestAmqp091ClientTalksToThisCodec: go test -run Amqp091 -update-seeds
var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz seeds from real amqp091-go frames")

// writeSeeds writes one corpus file per frame (go test fuzz v1 format) for each target.
func writeSeeds(t *testing.T, frames [][]byte) {
	t.Helper()
	write := func(target, name string, args ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(a)))
			case uint16:
				fmt.Fprintf(&b, "uint16(%d)\n", a)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var all []byte
	for i, f := range frames {
		if len(f) > 1024 { // body frames of the large test message: big, and nothing new to a fuzzer
			continue
		}
		all = append(all, f...)
		payload := f[7 : len(f)-1]
		name := fmt.Sprintf("amqp091-%02d", i)
		switch f[0] {
		case wire.FrameMethod:
			m, err := wire.DecodeMethod(payload)
			if err != nil {
				t.Fatal(err)
			}
			name = fmt.Sprintf("amqp091-%02d-%s", i, m.Name())
			write("FuzzDecodeMethod", name, payload)
			// The tables inside, for FuzzTable: the client's properties and arguments.
			switch m := m.(type) {
			case *wire.ConnectionStartOk:
				tb, _ := wire.AppendTable(nil, m.ClientProperties)
				write("FuzzTable", name, tb)
			case *wire.ExchangeDeclare:
				tb, _ := wire.AppendTable(nil, m.Arguments)
				write("FuzzTable", name, tb)
			}
		case wire.FrameHeader:
			write("FuzzContentHeader", name+"-header", payload)
		}
		write("FuzzFrameReader", name, f, uint16(len(f)/2))
	}
	write("FuzzFrameReader", "amqp091-session", all, uint16(len(all)/3))
}
