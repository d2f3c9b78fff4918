package main

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseConf feeds arbitrary rabbitmq.conf text to the parser and the mapping to
// flags: an error for what it cannot read, never a panic, every setting it reads is a
// trimmed key without '=' on an increasing line, and every flag the file sets is one of
// warren's (applyConfig sets them by name).
func FuzzParseConf(f *testing.F) {
	f.Add([]byte("listeners.tcp.default = 5673\nvm_memory_high_watermark.relative = 0.6\n# c\n\nload_definitions = \"/d.json\"\n"))
	f.Add([]byte("disk_free_limit.absolute = 2GB\nvm_memory_high_watermark.absolute = 1Gi\nchannel_max=0\n"))
	f.Add([]byte("listeners.tcp.1 = 127.0.0.1:5672\nlisteners.ssl.default = 5671\nloopback_users.guest = false\n"))
	f.Add([]byte("=\n"))
	known := map[string]bool{}
	for _, fl := range newApp().Flags {
		for _, name := range fl.Names() {
			known[name] = true
		}
	}
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
		flags, _, err := confFlags(settings, 8<<30)
		if err != nil {
			return
		}
		for name := range flags {
			if !known[name] { // applyConfig would fail to set it
				t.Fatalf("setting maps to --%s, which warren does not have", name)
			}
		}
	})
}
