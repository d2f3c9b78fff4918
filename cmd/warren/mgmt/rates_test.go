package mgmt

import (
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	r := newRates(&Server{})
	t0 := time.Unix(1000, 0)
	if got := r.rate("k"); got != 0 {
		t.Fatalf("rate without samples %v", got)
	}
	r.record(t0, map[string]float64{"k": 10, "gone": 1})
	if got := r.rate("k"); got != 0 {
		t.Fatalf("rate with one sample %v", got)
	}
	r.record(t0.Add(2*time.Second), map[string]float64{"k": 20})
	if got := r.rate("k"); got != 5 {
		t.Fatalf("rate %v, want 5", got)
	}
	if got := r.rate("gone"); got != 0 {
		t.Fatalf("rate of a key no longer sampled %v", got)
	}
	r.record(t0.Add(7*time.Second), map[string]float64{"k": 10})
	if got := r.rate("k"); got != -2 {
		t.Fatalf("rate %v, want -2 (a queue draining)", got)
	}
	var nilRates *rates
	if d := nilRates.details("k"); d["rate"] != 0.0 {
		t.Fatalf("details of nil rates %v", d)
	}
}
