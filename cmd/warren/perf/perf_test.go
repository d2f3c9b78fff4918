package perf

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/warrenmq/warren/conformance/warrentest"
)

func TestSmoke(t *testing.T) {
	url := warrentest.Start(t)
	var live bytes.Buffer
	cfg := DefaultConfig()
	cfg.URL = url
	cfg.Duration = 2 * time.Second
	cfg.Live = &live
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.WriteText(&out)
	t.Logf("live:\n%s\n%s", live.String(), out.String())
}
