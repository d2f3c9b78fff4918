package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseConf feeds arbitrary rabbitmq.conf text to the parser and the mapping to
// flags: an error for what it cannot read, never a panic, and every setting it reads
// is a trimmed key without '=' on an increasing line.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte("listeners.tcp.default = 5673\nvm_memory_high_watermark.relative = 0.6\n# c\n\nload_definitions = \"/d.json\"\n"))
	f.Add([]byte("disk_free_limit.absolute = 2GB\nvm_memory_high_watermark.absolute = 1Gi\nchannel_max=0\n"))
	f.Add([]byte("listeners.tcp.1 = 127.0.0.1:5672\nlisteners.ssl.default = 5671\nloopback_users.guest = false\n"))
	f.Add([]byte("=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		settings, err := parseConf(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			return
		}
		line := 0
		for _, s := range settings {
			if s.key == "" || strings.Contains(s.key, "=") || s.key != strings.TrimSpace(s.key) || s.line <= line {
				t.Fatalf("setting %+v after line %d", s, line)
			}
			line = s.line
		}
		confFlags(settings, 8<<30)
	})
}
