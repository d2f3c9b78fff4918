package main

import "testing"

func TestGCPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name     string
		live     uint64
		want     int
		headroom uint64
	}{
		{"empty heap", 0, 100, 64 * mb},
		{"small heap", 10 * mb, 100, 64 * mb},
		{"at the headroom", 64 * mb, 100, 64 * mb},
		{"twice the headroom", 128 * mb, 50, 64 * mb},
		{"in steps of 5", 100 * mb, 60, 64 * mb}, // 64%
		{"large heap", 300 * mb, 25, 64 * mb},    // 21% is below the floor
		{"huge heap", 10_000 * mb, 25, 64 * mb},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercent(tc.live, tc.headroom); got != tc.want {
				t.Fatalf("gcPercent(%d MiB, %d MiB) = %d, want %d", tc.live/mb, tc.headroom/mb, got, tc.want)
			}
		})
	}
}
