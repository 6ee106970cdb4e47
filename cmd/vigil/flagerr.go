package main

import (
	"flag"
	"fmt"
	"regexp"
	"time"

	"github.com/vigil-agent/vigil/internal/sanitize"
)

// The flag package's parse errors, which name the flag with one dash and a
// value's problem as "parse error". Their wording has been stable since Go 1.
var (
	flagBadValue = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)
	flagUnknown  = regexp.MustCompile(`^flag provided but not defined: -(.*)$`)
	flagNoValue  = regexp.MustCompile(`^flag needs an argument: -(.*)$`)
)

// flagError is a flag parse error in one line, in vigil's words: the flag
// as the help writes it, and the value given, quoted. An error the flag
// package words otherwise is returned as it is.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := flagBadValue.FindStringSubmatch(msg); m != nil {
		why := m[3]
		if g, ok := fs.Lookup(m[2]).Value.(flag.Getter); ok {
			switch g.Get().(type) {
			case time.Duration:
				why = "not a duration (such as 30s, 5m or 1h)"
			case bool:
				why = "not true or false (the flag alone means true)"
			}
		}
		return fmt.Sprintf("--%s %s: %s", sanitize.Line(m[2], 64), m[1], why)
	}
	if m := flagUnknown.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown flag --%s", sanitize.Line(m[1], 64))
	}
	if m := flagNoValue.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s needs a value", sanitize.Line(m[1], 64))
	}
	return sanitize.Line(msg, 200)
}
