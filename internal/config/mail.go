package config

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Mailbox is one help desk inbox the intake watches over IMAP.
type Mailbox struct {
	// Name identifies the mailbox in logs, checkpoints and quarantine;
	// unique, stable (renaming starts a new checkpoint).
	Name string `yaml:"name" json:"name"`
	// Address is the help desk address mail to this mailbox is sent to
	// (e.g. support@example.com): mail From it is our own (a loop).
	Address string `yaml:"address" json:"address"`
	Host    string `yaml:"host" json:"host"`
	Port    int    `yaml:"port" json:"port"`
	// Security: "tls" (implicit TLS, port 993), "starttls", or "none"
	// (plaintext; only allowed to a loopback host).
	Security string `yaml:"security" json:"security"`
	User     string `yaml:"user" json:"user"`
	Password string `yaml:"password" json:"password"`
	// Folder is watched; default INBOX.
	Folder string `yaml:"folder" json:"folder"`
	// Processed is what happens to a message once its ticket or comment is
	// durable: "move" (to ProcessedFolder, the default), "flag" (\Seen and
	// $Processed, left in place) or "delete".
	Processed       string `yaml:"processed" json:"processed"`
	ProcessedFolder string `yaml:"processed_folder" json:"processed_folder"`
	// CategoryID is the category of tickets opened from this mailbox.
	CategoryID *int64 `yaml:"category_id" json:"category_id"`
	// PollInterval is how often the folder is checked when the server has
	// no IDLE, and how often an idle connection re-checks; default 30s.
	PollInterval Duration `yaml:"poll_interval" json:"poll_interval"`

	// Sender trust (docs/email.md, "Sender trust"): mail acts as a staff
	// member only when authenticated. TrustSender believes every From of
	// this mailbox (an internal relay that authenticates senders itself);
	// otherwise the top-most Authentication-Results of AuthservID (default
	// mail_authserv_id) must show DMARC, or DKIM aligned with From, pass.
	TrustSender bool   `yaml:"trust_sender" json:"trust_sender"`
	AuthservID  string `yaml:"authserv_id" json:"authserv_id"`
	// UnverifiedStaff is what becomes of unauthenticated mail from a staff
	// address: "comment" (default: a participant's comment flagged
	// unverified_sender) or "quarantine".
	UnverifiedStaff string `yaml:"unverified_staff" json:"unverified_staff"`
}

// Unverified staff mail handling (Mailbox.UnverifiedStaff).
const (
	UnverifiedStaffComment    = "comment"
	UnverifiedStaffQuarantine = "quarantine"
)

// TrustedAuthservID is the authserv-id whose Authentication-Results mb
// believes: its own, else mail_authserv_id ("" for none).
func (c Config) TrustedAuthservID(mb Mailbox) string {
	if mb.AuthservID != "" {
		return mb.AuthservID
	}
	return c.MailAuthservID
}

// fillMailDefaults fills the unset fields of every mailbox.
func (c *Config) fillMailDefaults() {
	for i := range c.Mailboxes {
		c.Mailboxes[i] = c.Mailboxes[i].withDefaults()
	}
}

// withDefaults returns m with its unset fields filled.
func (m Mailbox) withDefaults() Mailbox {
	if m.Folder == "" {
		m.Folder = "INBOX"
	}
	if m.Processed == "" {
		m.Processed = "move"
	}
	if m.ProcessedFolder == "" && m.Processed == "move" {
		m.ProcessedFolder = "Processed"
	}
	if m.Security == "" {
		m.Security = "tls"
	}
	if m.Port == 0 {
		switch m.Security {
		case "tls":
			m.Port = 993
		default:
			m.Port = 143
		}
	}
	if m.PollInterval == 0 {
		m.PollInterval = Duration(30 * time.Second)
	}
	m.Address = strings.ToLower(strings.TrimSpace(m.Address))
	if m.UnverifiedStaff == "" {
		m.UnverifiedStaff = UnverifiedStaffComment
	}
	return m
}

// validAuthservID: an authserv-id is a token or a domain name (RFC 8601
// section 2.5), compared as written, case-insensitively.
func validAuthservID(id string) bool {
	return len(id) <= 255 && !strings.ContainsAny(id, " \t\r\n;()\"=\\") && strings.TrimSpace(id) == id
}

func (c Config) validateMail() error {
	seen := map[string]bool{}
	for i, raw := range c.Mailboxes {
		m := raw.withDefaults()
		opt := fmt.Sprintf("mailboxes[%d]", i)
		bad := func(field, reason string) error {
			return &OptionError{Option: opt + "." + field, Reason: reason}
		}
		if m.Name == "" || strings.ContainsAny(m.Name, " \t\r\n/") {
			return bad("name", "must be a non-empty name without spaces or slashes")
		}
		if seen[m.Name] {
			return bad("name", fmt.Sprintf("%q is used by two mailboxes", m.Name))
		}
		seen[m.Name] = true
		if a, err := mail.ParseAddress(m.Address); err != nil || a.Address != m.Address {
			return bad("address", fmt.Sprintf("must be an email address, got %q", m.Address))
		}
		if m.Host == "" {
			return bad("host", "is required")
		}
		if m.Port < 1 || m.Port > 65535 {
			return bad("port", fmt.Sprintf("must be 1-65535, got %d", m.Port))
		}
		switch m.Security {
		case "tls", "starttls":
		case "none":
			if !isLoopbackHost(m.Host) {
				return bad("security", "\"none\" (plaintext) is only allowed to a loopback host; use tls or starttls")
			}
		default:
			return bad("security", fmt.Sprintf("must be tls, starttls or none, got %q", m.Security))
		}
		if m.User == "" || m.Password == "" {
			return bad("user", "user and password are required (password authentication)")
		}
		switch m.Processed {
		case "move":
			if m.ProcessedFolder == "" || strings.EqualFold(m.ProcessedFolder, m.Folder) {
				return bad("processed_folder", "must name a folder other than the watched one")
			}
		case "flag", "delete":
		default:
			return bad("processed", fmt.Sprintf("must be move, flag or delete, got %q", m.Processed))
		}
		if m.PollInterval.D() < time.Second {
			return bad("poll_interval", fmt.Sprintf("must be at least 1s, got %s", m.PollInterval))
		}
		if !validAuthservID(m.AuthservID) {
			return bad("authserv_id", fmt.Sprintf("must be the authserv-id your mail server writes (a host name such as mx.example.com), got %q", m.AuthservID))
		}
		switch m.UnverifiedStaff {
		case UnverifiedStaffComment, UnverifiedStaffQuarantine:
		default:
			return bad("unverified_staff", fmt.Sprintf("must be comment or quarantine, got %q", m.UnverifiedStaff))
		}
	}
	if !validAuthservID(c.MailAuthservID) {
		return &OptionError{Option: "mail_authserv_id", Reason: fmt.Sprintf("must be the authserv-id your mail server writes (a host name such as mx.example.com), got %q", c.MailAuthservID)}
	}
	if c.MailSecret != "" && len(c.MailSecret) < 32 {
		return &OptionError{Option: "mail_secret", Reason: "must be at least 32 characters (empty: a random key kept in PostgreSQL)"}
	}
	if a, err := mail.ParseAddress(c.MailFrom); err != nil || a.Address == "" {
		return &OptionError{Option: "mail_from", Reason: fmt.Sprintf("must be an address such as \"Help Desk <support@example.com>\", got %q", c.MailFrom)}
	}
	if c.SMTPHost != "" {
		switch c.SMTPSecurity {
		case "tls", "starttls":
		case "none":
			if !isLoopbackHost(c.SMTPHost) {
				return &OptionError{Option: "smtp_security", Reason: "\"none\" (plaintext) is only allowed to a loopback host; use tls or starttls"}
			}
		default:
			return &OptionError{Option: "smtp_security", Reason: fmt.Sprintf("must be tls, starttls or none, got %q", c.SMTPSecurity)}
		}
		if c.SMTPPort < 1 || c.SMTPPort > 65535 {
			return &OptionError{Option: "smtp_port", Reason: fmt.Sprintf("must be 1-65535, got %d", c.SMTPPort)}
		}
		if (c.SMTPUser == "") != (c.SMTPPassword == "") {
			return &OptionError{Option: "smtp_user", Reason: "smtp_user and smtp_password go together"}
		}
	}
	checks := []struct {
		opt string
		ok  bool
		why string
	}{
		{"mail_max_message_bytes", c.MailMaxMessageBytes >= 64<<10, "must be at least 65536"},
		{"mail_max_attachments", c.MailMaxAttachments >= 0, "must not be negative"},
		{"mail_concurrency", c.MailConcurrency >= 1 && c.MailConcurrency <= 64, "must be 1-64"},
		{"mail_rate_limit", c.MailRateLimit >= 0, "must not be negative (0: no limit)"},
		{"mail_rate_window", c.MailRateWindow.D() >= time.Minute, "must be at least 1m"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return &OptionError{Option: ch.opt, Reason: ch.why}
		}
	}
	return nil
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || h == "::1" || strings.HasPrefix(h, "127.")
}

func mailEnvOptions(integer func(string, func(*Config) *int) envOption, duration func(string, func(*Config) *Duration) envOption,
	boolean func(string, func(*Config) *bool) envOption, str func(string, func(*Config) *string) envOption) []envOption {
	return []envOption{
		str("smtp_host", func(c *Config) *string { return &c.SMTPHost }),
		integer("smtp_port", func(c *Config) *int { return &c.SMTPPort }),
		str("smtp_security", func(c *Config) *string { return &c.SMTPSecurity }),
		str("smtp_user", func(c *Config) *string { return &c.SMTPUser }),
		str("smtp_password", func(c *Config) *string { return &c.SMTPPassword }),
		str("mail_from", func(c *Config) *string { return &c.MailFrom }),
		boolean("dev_mail", func(c *Config) *bool { return &c.DevMail }),
		integer("dev_imap_port", func(c *Config) *int { return &c.DevIMAPPort }),
		integer("dev_smtp_port", func(c *Config) *int { return &c.DevSMTPPort }),
		integer("mail_max_message_bytes", func(c *Config) *int { return &c.MailMaxMessageBytes }),
		integer("mail_max_attachments", func(c *Config) *int { return &c.MailMaxAttachments }),
		integer("mail_concurrency", func(c *Config) *int { return &c.MailConcurrency }),
		integer("mail_rate_limit", func(c *Config) *int { return &c.MailRateLimit }),
		duration("mail_rate_window", func(c *Config) *Duration { return &c.MailRateWindow }),
		str("mail_authserv_id", func(c *Config) *string { return &c.MailAuthservID }),
		str("mail_secret", func(c *Config) *string { return &c.MailSecret }),
		{"mailboxes", func(c *Config, v string) error {
			var m []Mailbox
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return fmt.Errorf(`want a JSON array of {"name", "address", "host", "port", "security", "user", "password", …}: %v`, err)
			}
			c.Mailboxes = m
			return nil
		}},
	}
}
