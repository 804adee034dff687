package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "helpdesk.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadCase loads file's text (none when empty) and the environment env.
func loadCase(t *testing.T, file string, env []string) (Config, error) {
	t.Helper()
	path := ""
	if file != "" {
		path = writeFile(t, file)
	}
	return Load(path, env)
}

func TestDefaultsAreThePromisedOnes(t *testing.T) {
	cfg, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.EnableEmailNotifications || !cfg.EnableEscalation {
		t.Errorf("email notifications and escalation must default to on: %+v", cfg)
	}
	if cfg.DefaultPriority != "medium" || cfg.TicketExpirationDays != 7 || cfg.AuditLogInterval.D() != 24*time.Hour {
		t.Errorf("defaults: priority %s, expiration %d, audit interval %s", cfg.DefaultPriority, cfg.TicketExpirationDays, cfg.AuditLogInterval)
	}
	if got := cfg.StatusTransitions["resolved"]; strings.Join(got, ",") != "open,closed" {
		t.Errorf("default transitions from resolved = %v", got)
	}
}

func TestFileThenEnvironment(t *testing.T) {
	p := writeFile(t, `
default_priority: high
ticket_expiration_days: 14
audit_log_interval: 12h
enable_email_notifications: false
status_transitions:
  open: [in_progress, closed]
  in_progress: [pending, resolved]
  pending: [in_progress]
  resolved: [closed, open]
  closed: [open]
`)
	cfg, err := Load(p, []string{"HELPDESK_DEFAULT_PRIORITY=low", "HELPDESK_AUDIT_LOG_INTERVAL=2d", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultPriority != "low" {
		t.Errorf("environment must override the file: got %s", cfg.DefaultPriority)
	}
	if cfg.TicketExpirationDays != 14 || cfg.EnableEmailNotifications {
		t.Errorf("file values lost: %+v", cfg)
	}
	if cfg.AuditLogInterval.D() != 48*time.Hour {
		t.Errorf("2d = %s", cfg.AuditLogInterval.D())
	}
	if got := cfg.StatusTransitions["open"]; len(got) != 2 {
		t.Errorf("file transitions replaced the default graph wholesale: %v", got)
	}
}

func TestBadOptionsAreNamed(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		option     string
	}{
		{"priority", "default_priority: urgent\n", nil, "default_priority"},
		{"priority env", "", []string{"HELPDESK_DEFAULT_PRIORITY=urgent"}, "default_priority"},
		{"expiration zero", "ticket_expiration_days: 0\n", nil, "ticket_expiration_days"},
		{"expiration not a number", "", []string{"HELPDESK_TICKET_EXPIRATION_DAYS=seven"}, "ticket_expiration_days"},
		{"email bool", "", []string{"HELPDESK_ENABLE_EMAIL_NOTIFICATIONS=maybe"}, "enable_email_notifications"},
		{"escalation type", "enable_escalation: sometimes\n", nil, "enable_escalation"},
		{"audit interval", "audit_log_interval: soon\n", nil, "audit_log_interval"},
		{"audit interval env", "", []string{"HELPDESK_AUDIT_LOG_INTERVAL=1x"}, "audit_log_interval"},
		{"unknown status", "status_transitions: {open: [done]}\n", nil, "status_transitions"},
		{"unreachable status", "status_transitions: {open: [closed], closed: [open]}\n", nil, "status_transitions"},
		{"transitions json", "", []string{`HELPDESK_STATUS_TRANSITIONS={"open":`}, "status_transitions"},
		{"unknown option", "colour: blue\n", nil, "colour"},
		{"port", "dev_postgres_port: 70000\n", nil, "dev_postgres_port"},
		{"session ttl", "session_ttl: 10s\n", nil, "session_ttl"},
		{"short bootstrap token", "", []string{"HELPDESK_BOOTSTRAP_TOKEN=short"}, "bootstrap_token"},
		{"bootstrap token of 31 characters", "", []string{"HELPDESK_BOOTSTRAP_TOKEN=" + strings.Repeat("k", 31)}, "bootstrap_token"},
		{"the README's sample bootstrap token", "bootstrap_token: " + BootstrapTokenSample + "\n", nil, "bootstrap_token"},
		{"trusted proxy not a prefix", "", []string{"HELPDESK_TRUSTED_PROXIES=10.0.0.0/8, proxy.local"}, "trusted_proxies"},
		{"client ip header", "client_ip_header: 'X-Forwarded-For: 1.2.3.4'\n", nil, "client_ip_header"},
		{"address limit not above account limit", "login_max_failures_per_account: 5\nlogin_max_failures_per_address: 5\n", nil, "login_max_failures_per_address"},
		{"throttle window", "", []string{"HELPDESK_LOGIN_THROTTLE_WINDOW=10s"}, "login_throttle_window"},
		{"oidc without client", "oidc_issuer: http://127.0.0.1:9000\n", nil, "oidc_client_id"},
		{"oidc role mapping", "", []string{`HELPDESK_OIDC_ROLE_MAPPING={"staff":"wizard"}`}, "oidc_role_mapping"},
		{"request timeout within update timeout", "request_timeout: 5s\n", nil, "request_timeout"},
		{"statement timeout tiny", "", []string{"HELPDESK_DB_STATEMENT_TIMEOUT=5ms"}, "db_statement_timeout"},
		{"lock timeout not a duration", "db_lock_timeout: soon\n", nil, "db_lock_timeout"},
		{"audit interval negative", "audit_log_interval: -1\n", nil, "audit_log_interval"},
		{"audit interval zero days", "audit_log_interval: 0\n", nil, "audit_log_interval"},
		{"audit interval fraction", "audit_log_interval: 1.5\n", nil, "audit_log_interval"},
		{"audit interval list", "audit_log_interval: [1]\n", nil, "audit_log_interval"},
		{"transitions not an object", "", []string{`HELPDESK_STATUS_TRANSITIONS=[]`}, "status_transitions"},
		{"principal cache ttl", "principal_cache_ttl: 1h\n", nil, "principal_cache_ttl"},
		{"principal cache ttl env", "", []string{"HELPDESK_PRINCIPAL_CACHE_TTL=-1s"}, "principal_cache_ttl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadCase(t, c.file, c.env)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "option "+c.option) {
				t.Errorf("error does not name option %s: %v", c.option, err)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0d": 0,
	}
	for in, want := range cases {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "d", "-1d", "7days", "1d-3h", "abc"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if s := Duration(7 * 24 * time.Hour).String(); s != "7d" {
		t.Errorf("7 days prints as %s", s)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "docs", "helpdesk.example.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TemporalRetention.D() != 30*24*time.Hour {
		t.Errorf("example retention %s", cfg.TemporalRetention)
	}
}

func TestAccessOptions(t *testing.T) {
	cfg, err := Load("", []string{"HELPDESK_BOOTSTRAP_TOKEN=" + strings.Repeat("k", 32),
		"HELPDESK_TRUSTED_PROXIES=10.0.0.0/8, 192.0.2.1 ,::ffff:172.16.0.0/108", "HELPDESK_CLIENT_IP_HEADER=X-Real-IP"})
	if err != nil {
		t.Fatal(err)
	}
	prefixes, err := ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil || fmt.Sprint(prefixes) != "[10.0.0.0/8 192.0.2.1/32 172.16.0.0/12]" || cfg.ClientIPHeader != "X-Real-IP" {
		t.Errorf("trusted proxies %v (%v), header %q", prefixes, err, cfg.ClientIPHeader)
	}
	def := Default()
	if len(def.TrustedProxies) != 0 || def.LoginMaxFailuresPerAddress <= def.LoginMaxFailuresPerAccount {
		t.Errorf("defaults: trusted proxies %v, per account %d, per address %d", def.TrustedProxies, def.LoginMaxFailuresPerAccount, def.LoginMaxFailuresPerAddress)
	}
}
