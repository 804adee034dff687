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
