package config

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// An operator checks a file before deploying it: the values in effect are
// printed (the environment applied), and no secret is.
func TestCheckPrintsEffectiveValuesWithSecretsRedacted(t *testing.T) {
	secrets := []string{"db-pass-4711", "es-pass-4712", "bootstrap-token-0123456789abcdef0123", "cookie-secret-0123456789abcdef0123456789",
		"oidc-secret-4713", "smtp-pass-4714", "imap-pass-4715", "dsn-pass-4716"}
	path := writeFile(t, `
audit_log_interval: 1
status_transitions: {}
database_url: postgres://helpdesk:db-pass-4711@db.example.com:5432/helpdesk?sslmode=require
elasticsearch_url: https://elastic:es-pass-4712@es.example.com:9200
bootstrap_token: bootstrap-token-0123456789abcdef0123
cookie_secret: cookie-secret-0123456789abcdef0123456789
oidc_issuer: https://sso.example.com
oidc_client_id: helpdesk
oidc_client_secret: oidc-secret-4713
oidc_redirect_url: https://helpdesk.example.com/api/v1/auth/sso/callback
smtp_host: smtp.example.com
smtp_user: helpdesk
smtp_password: smtp-pass-4714
mailboxes:
  - name: support
    address: support@example.com
    host: imap.example.com
    user: support
    password: imap-pass-4715
`)
	var out bytes.Buffer
	err := Check(path, []string{"HELPDESK_DEFAULT_PRIORITY=high", "HELPDESK_TEMPORAL_ADDRESS=host=temporal password=dsn-pass-4716", "HOME=/root"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("the output shows the secret %q:\n%s", s, got)
		}
	}
	for _, want := range []string{
		"HELPDESK_DEFAULT_PRIORITY", path, // where the values came from
		"default_priority: high",       // the environment applied
		"audit_log_interval: 1d",       // the seed's format, as understood
		"closed:\n    - open",          // {} is the built-in graph
		"update_timeout: 10s",          // defaults shown too
		"bootstrap_token: " + redacted, // secrets: set, not shown
		"cookie_secret: " + redacted,
		"oidc_client_secret: " + redacted,
		"smtp_password: " + redacted,
		"password: " + redacted, // the mailbox's
		"postgres://helpdesk:xxxxx@db.example.com:5432/helpdesk?sslmode=require",
		"https://elastic:xxxxx@es.example.com:9200",
		"password=xxxxx",
		"oidc_client_id: helpdesk", // not secrets
		"smtp_user: helpdesk",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q:\n%s", want, got)
		}
	}
}

// What Check prints is a configuration file: loaded again, it gives the
// same values.
func TestCheckOutputLoadsBackUnchanged(t *testing.T) {
	path := writeFile(t, "audit_log_interval: 2\nstatus_transitions: {resolved: [closed]}\nupdate_timeout: 1500ms\n"+
		"sla_policies: {high: {first_response: 2h, resolution: 1d}}\nbusiness_calendar: {time_zone: Europe/Berlin, hours: {mon: [\"09:00-17:00\"]}}\n"+
		"mailboxes: [{name: support, address: support@example.com, host: 127.0.0.1, security: none, user: support, password: imap-pass}]\n")
	var first bytes.Buffer
	if err := Check(path, []string{"HELPDESK_SESSION_TTL=36h"}, &first); err != nil {
		t.Fatal(err)
	}
	again := writeFile(t, first.String())
	var second bytes.Buffer
	if err := Check(again, nil, &second); err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, first.String())
	}
	body := func(s string) string { // without the header that names the sources
		lines := strings.Split(s, "\n")
		for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
			lines = lines[1:]
		}
		return strings.Join(lines, "\n")
	}
	if body(first.String()) != body(second.String()) {
		t.Errorf("printed, loaded and printed again differs:\n%s\n---\n%s", first.String(), second.String())
	}
	for _, want := range []string{"audit_log_interval: 2d", "session_ttl: 36h0m0s", "update_timeout: 1.5s", "resolution: 1d", "time_zone: Europe/Berlin"} {
		if !strings.Contains(first.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, first.String())
		}
	}
}

// A bad file is reported with the option named, and nothing is printed.
func TestCheckNamesTheBadOption(t *testing.T) {
	for _, c := range []struct {
		file, option string
	}{
		{"update_timeout: 10\n", "update_timeout"},
		{"default_priority: urgent\n", "default_priority"},
		{"colour: blue\n", "colour"},
	} {
		var out bytes.Buffer
		err := Check(writeFile(t, c.file), nil, &out)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != c.option || out.Len() > 0 {
			t.Errorf("%q: err = %v, output %q; want option %s named and nothing printed", c.file, err, out.String(), c.option)
		}
	}
	var out bytes.Buffer
	if err := Check("/nonexistent/helpdesk.yaml", nil, &out); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
