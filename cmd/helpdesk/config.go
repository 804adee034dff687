package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/helpdesk/helpdesk/internal/config"
)

// runConfig is `helpdesk config check [-config FILE]`: load the
// configuration as every command would, print the values in effect with
// secrets redacted, and exit 1 naming the option when it is invalid.
func runConfig(configPath string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: helpdesk config check [-config FILE]")
		return 2
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", configPath, "the YAML file to check (default: helpdesk's -config or HELPDESK_CONFIG)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if err := config.Check(*path, os.Environ(), stdout); err != nil {
		fmt.Fprintf(stderr, "helpdesk config check: %v\n", err)
		return 1
	}
	return 0
}
