package main

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/warrenmq/warren/vhost"
)

func TestParseWatermark(t *testing.T) {
	for _, tc := range []struct {
		in    string
		total uint64
		want  uint64
		bad   bool
	}{
		{"0.4", 1000, 400, false},
		{"0", 1000, 0, false},
		{"2GiB", 0, 2 << 30, false},
		{"1.5", 1000, 0, true},
		{"0.4", 0, 0, true},
		{"lots", 1000, 0, true},
	} {
		got, err := parseWatermark(tc.in, tc.total)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("parseWatermark(%q, %d) = %d, %v; want %d, error %v", tc.in, tc.total, got, err, tc.want, tc.bad)
		}
	}
}

// Passing the watermark sets the broker's memory alarm (which blocks
// publishers); falling below clears it.
func TestMemoryAlarmFollowsWatermark(t *testing.T) {
	b, err := vhost.New(vhost.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	alarmed := checkMemory(b, 100, 200, false)
	if _, active := b.Alarmed(); active || alarmed {
		t.Fatal("alarm set below the watermark")
	}
	alarmed = checkMemory(b, 300, 200, alarmed)
	if reason, active := b.Alarmed(); !active || !alarmed || reason != "low on memory" {
		t.Fatalf("over the watermark: alarm %v %q, want set 'low on memory'", active, reason)
	}
	alarmed = checkMemory(b, 150, 200, alarmed)
	if _, active := b.Alarmed(); active || alarmed {
		t.Fatal("alarm still set below the watermark")
	}
	if totalMemory() == 0 {
		t.Log("this machine's memory is unknown")
	}
}
