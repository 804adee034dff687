package config

import (
	"strings"
	"testing"
)

func TestMailboxesFromEnvironmentGetDefaults(t *testing.T) {
	cfg, err := Load("", []string{`HELPDESK_MAILBOXES=[{"name":"support","address":"Support@Example.com","host":"imap.example.com","user":"u","password":"p","poll_interval":"45s"}]`})
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Mailboxes[0]
	if m.Address != "support@example.com" || m.Port != 993 || m.Security != "tls" || m.Folder != "INBOX" ||
		m.Processed != "move" || m.ProcessedFolder != "Processed" || m.PollInterval.D().Seconds() != 45 {
		t.Errorf("mailbox with defaults: %+v", m)
	}
}

func TestBadMailboxesAreNamed(t *testing.T) {
	base := `{"name":"support","address":"support@example.com","host":"imap.example.com","user":"u","password":"p"`
	for _, c := range []struct{ name, json, option string }{
		{"plaintext off loopback", base + `,"security":"none"}`, "mailboxes[0].security"},
		{"unknown security", base + `,"security":"ssl3"}`, "mailboxes[0].security"},
		{"no password", `{"name":"s","address":"s@example.com","host":"h","user":"u"}`, "mailboxes[0].user"},
		{"not an address", `{"name":"s","address":"nobody","host":"h","user":"u","password":"p"}`, "mailboxes[0].address"},
		{"move into itself", base + `,"processed_folder":"INBOX"}`, "mailboxes[0].processed_folder"},
		{"unknown action", base + `,"processed":"archive"}`, "mailboxes[0].processed"},
		{"duplicate name", "[" + base + "}," + base + "}]", "mailboxes[1].name"},
		{"bad duration", base + `,"poll_interval":"soon"}`, "mailboxes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			js := c.json
			if !strings.HasPrefix(js, "[") {
				js = "[" + js + "]"
			}
			_, err := Load("", []string{"HELPDESK_MAILBOXES=" + js})
			if err == nil || !strings.Contains(err.Error(), "option "+c.option) {
				t.Errorf("error %v, want it to name option %s", err, c.option)
			}
		})
	}
	if _, err := Load("", []string{"HELPDESK_MAIL_CONCURRENCY=0"}); err == nil || !strings.Contains(err.Error(), "mail_concurrency") {
		t.Errorf("mail_concurrency 0: %v", err)
	}
}

func TestMailTrustOptions(t *testing.T) {
	base := `{"name":"support","address":"support@example.com","host":"imap.example.com","user":"u","password":"p"`
	cfg, err := Load("", []string{"HELPDESK_MAILBOXES=[" + base + `},` + strings.Replace(base, `"support"`, `"relay"`, 1) +
		`,"trust_sender":true,"authserv_id":"mx.example.com","unverified_staff":"quarantine"}]`, "HELPDESK_MAIL_AUTHSERV_ID=mx.example.net"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Mailboxes[0], cfg.Mailboxes[1]
	if a.TrustSender || a.UnverifiedStaff != UnverifiedStaffComment || cfg.TrustedAuthservID(a) != "mx.example.net" {
		t.Errorf("defaults: %+v, trusted id %q", a, cfg.TrustedAuthservID(a))
	}
	if !b.TrustSender || b.UnverifiedStaff != UnverifiedStaffQuarantine || cfg.TrustedAuthservID(b) != "mx.example.com" {
		t.Errorf("set: %+v, trusted id %q", b, cfg.TrustedAuthservID(b))
	}
	for _, c := range []struct {
		env    []string
		option string
	}{
		{[]string{"HELPDESK_MAILBOXES=[" + base + `,"unverified_staff":"drop"}]`}, "mailboxes[0].unverified_staff"},
		{[]string{"HELPDESK_MAILBOXES=[" + base + `,"authserv_id":"mx.example.com; dmarc=pass"}]`}, "mailboxes[0].authserv_id"},
		{[]string{"HELPDESK_MAIL_AUTHSERV_ID=mx example"}, "mail_authserv_id"},
		{[]string{"HELPDESK_MAIL_SECRET=short"}, "mail_secret"},
	} {
		if _, err := Load("", c.env); err == nil || !strings.Contains(err.Error(), "option "+c.option) {
			t.Errorf("%v: error %v, want it to name option %s", c.env, err, c.option)
		}
	}
}
