package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// uncached returns flags with cacheNames' wrappers taken off.
func uncached(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(flags))
	for i, f := range flags {
		switch w := f.(type) {
		case *cachedStringFlag:
			out[i] = w.StringFlag
		case *cachedBoolFlag:
			out[i] = w.BoolFlag
		case *cachedIntFlag:
			out[i] = w.IntFlag
		case *cachedUintFlag:
			out[i] = w.UintFlag
		default:
			out[i] = f
		}
	}
	return out
}

// TestCachedNamesHelp checks that the wrapped root flags print the same --help as the
// flags themselves, and that every root flag is wrapped (a new flag type would
// silently fall back to urfave's slow Names: add a wrapper for it).
func TestCachedNamesHelp(t *testing.T) {
	help := func(flags []cli.Flag) string {
		app := newApp()
		app.Flags = flags
		var out bytes.Buffer
		app.Writer = &out
		if err := app.Run([]string{"warren", "--help"}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	app := newApp()
	for _, f := range app.Flags {
		switch f.(type) {
		case *cachedStringFlag, *cachedBoolFlag, *cachedIntFlag, *cachedUintFlag:
		default:
			t.Errorf("flag %v (%T) is not wrapped by cacheNames", f.Names(), f)
		}
	}
	wrapped, plain := help(app.Flags), help(uncached(newApp().Flags))
	if wrapped != plain {
		t.Fatalf("--help differs:\nwrapped:\n%s\nplain:\n%s", wrapped, plain)
	}
	if !bytes.Contains([]byte(wrapped), []byte("--in-memory")) || !bytes.Contains([]byte(wrapped), []byte("[$WARREN_LISTEN]")) {
		t.Fatalf("--help lacks the flags:\n%s", wrapped)
	}
}

// TestCachedNamesParse checks that wrapped flags read the command line and the
// environment as before, and that IsSet tells given flags from defaults.
func TestCachedNamesParse(t *testing.T) {
	t.Setenv("WARREN_MEMORY_BUDGET", "64MiB")
	t.Setenv("WARREN_REPORT_WARREN", "true")
	app := newApp()
	var got []string
	app.Action = func(cx *cli.Context) error {
		got = []string{cx.String("listen"), cx.String("memory-budget"), cx.String("log-level")}
		if !cx.Bool("in-memory") || !cx.Bool("report-warren") || cx.Int("max-connections") != 7 {
			t.Errorf("in-memory %v, report-warren %v, max-connections %d", cx.Bool("in-memory"), cx.Bool("report-warren"), cx.Int("max-connections"))
		}
		for name, want := range map[string]bool{"listen": true, "memory-budget": true, "in-memory": true, "max-connections": true, "log-level": false, "data-dir": false} {
			if cx.IsSet(name) != want {
				t.Errorf("IsSet(%q) = %v, want %v", name, cx.IsSet(name), want)
			}
		}
		return nil
	}
	if err := app.Run([]string{"warren", "--listen", "127.0.0.1:1", "--in-memory", "--max-connections", "7"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:1", "64MiB", "info"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkCLI is the command line's share of a start: parsing the root command's
// flags up to serve (whose work is left out).
func BenchmarkCLI(b *testing.B) {
	args := []string{"warren", "--listen", "127.0.0.1:1", "--in-memory", "--log-level", "warn", "--http-listen", "", "--metrics-listen", ""}
	for b.Loop() {
		for _, c := range extraCommands {
			c.HelpName = "" // App.Setup prefixes it at every run
		}
		app := newApp()
		app.Action = func(*cli.Context) error { return nil }
		if err := app.Run(args); err != nil {
			b.Fatal(err)
		}
	}
}
