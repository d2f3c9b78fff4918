package main

import "github.com/urfave/cli/v2"

// urfave/cli v2 computes a flag's Names() at every call, with a regular expression
// (cli.FlagNames strips a v1-style "name, alias"), and calls it O(flags²) times per
// run: after parsing, runFlagActions asks IsSet of every flag, and IsSet of a flag not
// given on the command line looks it up by scanning every flag's Names(). With the
// root command's 27 flags that was 2,490 allocations and 0.3 ms of warren's start
// (BenchmarkCLI), more than the broker's own setup. cacheNames wraps the flags in
// types whose Names() returns the names computed once; everything else (Apply, help
// text, EnvVars, IsSet, Required) is the embedded flag's own method, so the command
// line, the environment variables and --help are unchanged (TestCachedNamesHelp).

type cachedStringFlag struct {
	*cli.StringFlag
	names []string // f.StringFlag.Names(), computed once; read only
}

func (f *cachedStringFlag) Names() []string { return f.names }

type cachedBoolFlag struct {
	*cli.BoolFlag
	names []string // f.BoolFlag.Names(), computed once; read only
}

func (f *cachedBoolFlag) Names() []string { return f.names }

type cachedIntFlag struct {
	*cli.IntFlag
	names []string // f.IntFlag.Names(), computed once; read only
}

func (f *cachedIntFlag) Names() []string { return f.names }

type cachedUintFlag struct {
	*cli.UintFlag
	names []string // f.UintFlag.Names(), computed once; read only
}

func (f *cachedUintFlag) Names() []string { return f.names }

// cacheNames replaces, in place, each flag of a type above by its wrapper and returns
// flags; flags of other types are left as they are.
func cacheNames(flags []cli.Flag) []cli.Flag {
	for i, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			flags[i] = &cachedStringFlag{f, f.Names()}
		case *cli.BoolFlag:
			flags[i] = &cachedBoolFlag{f, f.Names()}
		case *cli.IntFlag:
			flags[i] = &cachedIntFlag{f, f.Names()}
		case *cli.UintFlag:
			flags[i] = &cachedUintFlag{f, f.Names()}
		}
	}
	return flags
}
