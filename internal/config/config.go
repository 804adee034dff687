// Package config loads helpdesk's one configuration: a YAML file overlaid by
// HELPDESK_* environment variables, validated as a whole at start so a bad
// value stops the process with a message naming the option.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/helpdesk/helpdesk/internal/sla"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Config is every option helpdesk reads. Field tags give the YAML key; the
// environment variable is HELPDESK_ + the key in upper case.
type Config struct {
	// Product options promised to users.
	EnableEmailNotifications bool                `yaml:"enable_email_notifications"`
	DefaultPriority          string              `yaml:"default_priority"`
	TicketExpirationDays     int                 `yaml:"ticket_expiration_days"`
	StatusTransitions        map[string][]string `yaml:"status_transitions"`
	EnableEscalation         bool                `yaml:"enable_escalation"`
	// AuditLogInterval: a bare whole number counts days, as the seed
	// documented it (`audit_log_interval: 1`); see DayDuration.
	AuditLogInterval DayDuration `yaml:"audit_log_interval"`

	// Lifecycle: SLA, escalation, expiry, auto-close, reopening.
	SLAPolicies      map[string]SLAPolicy `yaml:"sla_policies"`
	BusinessCalendar sla.CalendarSpec     `yaml:"business_calendar"`
	EscalationRules  []EscalationRule     `yaml:"escalation_rules"`
	// ExpiryAction is what happens to a ticket still unresolved
	// ticket_expiration_days after creation: escalate or close.
	ExpiryAction   string   `yaml:"expiry_action"`
	AutoCloseAfter Duration `yaml:"auto_close_after"`
	ReopenWindow   Duration `yaml:"reopen_window"`
	// Attachments.
	MaxAttachmentBytes      int `yaml:"max_attachment_bytes"`
	MaxAttachmentsPerTicket int `yaml:"max_attachments_per_ticket"`
	// WorkflowMaxHistoryEvents continues a ticket's workflow as new at this
	// history length, besides when the server suggests it (0: only then).
	WorkflowMaxHistoryEvents int `yaml:"workflow_max_history_events"`
	// DefaultAgentCapacity caps how many open tickets automatic assignment
	// gives an agent whose own capacity is unset (0: no cap).
	DefaultAgentCapacity int `yaml:"default_agent_capacity"`

	// Where things run.
	HTTPAddr           string   `yaml:"http_addr"`
	DatabaseURL        string   `yaml:"database_url"`
	ElasticsearchURL   string   `yaml:"elasticsearch_url"`
	ElasticsearchIndex string   `yaml:"elasticsearch_index"`
	TemporalAddress    string   `yaml:"temporal_address"`
	TemporalNamespace  string   `yaml:"temporal_namespace"`
	TemporalRetention  Duration `yaml:"temporal_retention"`
	TaskQueue          string   `yaml:"task_queue"`
	DataDir            string   `yaml:"data_dir"`
	LogLevel           string   `yaml:"log_level"`

	// Ports of the services `helpdesk dev` starts itself.
	DevTemporalUIPort    int `yaml:"dev_temporal_ui_port"`
	DevPostgresPort      int `yaml:"dev_postgres_port"`
	DevElasticsearchPort int `yaml:"dev_elasticsearch_port"`
	// DevMail: `helpdesk dev` also runs a help desk inbox (Dovecot IMAP on
	// dev_imap_port, an SMTP listener on dev_smtp_port) and the intake.
	DevMail     bool `yaml:"dev_mail"`
	DevIMAPPort int  `yaml:"dev_imap_port"`
	DevSMTPPort int  `yaml:"dev_smtp_port"`

	// Access.
	SessionTTL          Duration `yaml:"session_ttl"`
	AgentsSeeAllTickets bool     `yaml:"agents_see_all_tickets"`
	// BootstrapToken, when set, becomes an admin API token at start (for
	// scripts); at least 32 characters, not the README's sample. API
	// processes revoke the previous one when it changes or is removed.
	BootstrapToken string `yaml:"bootstrap_token"`
	// TrustedProxies are the addresses (CIDR prefixes) of reverse proxies
	// whose ClientIPHeader is believed; empty: the peer address is the
	// client's, and the header is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	ClientIPHeader string   `yaml:"client_ip_header"`
	// Sign-in throttling: failed attempts per account and per client
	// address within the window.
	LoginThrottleWindow        Duration `yaml:"login_throttle_window"`
	LoginMaxFailuresPerAccount int      `yaml:"login_max_failures_per_account"`
	LoginMaxFailuresPerAddress int      `yaml:"login_max_failures_per_address"`

	AuditExportDir string `yaml:"audit_export_dir"`
	// CookieSecret signs short-lived cookies (single sign-on in flight);
	// every API process must share it. Empty: random per process.
	CookieSecret string `yaml:"cookie_secret"`
	// OpenID Connect single sign-on; off while oidc_issuer is empty.
	OIDCIssuer       string            `yaml:"oidc_issuer"`
	OIDCClientID     string            `yaml:"oidc_client_id"`
	OIDCClientSecret string            `yaml:"oidc_client_secret"`
	OIDCRedirectURL  string            `yaml:"oidc_redirect_url"`
	OIDCGroupsClaim  string            `yaml:"oidc_groups_claim"`
	OIDCRoleMapping  map[string]string `yaml:"oidc_role_mapping"`

	// The email channel (docs/email.md).
	Mailboxes []Mailbox `yaml:"mailboxes"`
	// MailMaxMessageBytes: larger messages go to quarantine.
	MailMaxMessageBytes int `yaml:"mail_max_message_bytes"`
	// MailMaxAttachments per message (each also within max_attachment_bytes).
	MailMaxAttachments int `yaml:"mail_max_attachments"`
	// MailConcurrency is how many messages of one mailbox are processed at once.
	MailConcurrency int `yaml:"mail_concurrency"`
	// MailRateLimit: more messages than this from one sender within
	// mail_rate_window go to quarantine (0: no limit).
	MailRateLimit  int      `yaml:"mail_rate_limit"`
	MailRateWindow Duration `yaml:"mail_rate_window"`
	// MailAuthservID is the authserv-id of the receiving mail server whose
	// Authentication-Results every mailbox believes unless it names its
	// own (authserv_id); empty: none, so staff mail is never
	// authenticated unless a mailbox has trust_sender.
	MailAuthservID string `yaml:"mail_authserv_id"`
	// MailSecret keys the HMAC in outbound Message-IDs and return paths,
	// which makes bounces verifiable; the same on every worker and
	// intake. Empty: a random key kept in PostgreSQL.
	MailSecret string `yaml:"mail_secret"`
	// Outbound mail: notifications go out through this SMTP server, from
	// mail_from (also the Reply-To). Off while smtp_host is empty (dev
	// points it at its own SMTP listener).
	SMTPHost     string `yaml:"smtp_host"`
	SMTPPort     int    `yaml:"smtp_port"`
	SMTPSecurity string `yaml:"smtp_security"`
	SMTPUser     string `yaml:"smtp_user"`
	SMTPPassword string `yaml:"smtp_password"`
	MailFrom     string `yaml:"mail_from"`

	// Limits and deadlines.
	MaxBodyBytes   int      `yaml:"max_body_bytes"`
	UpdateTimeout  Duration `yaml:"update_timeout"`
	IdempotencyTTL Duration `yaml:"idempotency_ttl"`
	// RequestTimeout is every API request's deadline (a route that streams
	// may opt out); past it the answer is 503 with Retry-After.
	RequestTimeout Duration `yaml:"request_timeout"`
	// DBStatementTimeout and DBLockTimeout are PostgreSQL's
	// statement_timeout and lock_timeout on every pooled session (0: no
	// limit); migrations and exports set their own per transaction.
	DBStatementTimeout Duration `yaml:"db_statement_timeout"`
	DBLockTimeout      Duration `yaml:"db_lock_timeout"`
	// PrincipalCacheTTL: how long an API process may answer a token or
	// session from memory (revocations reach it over LISTEN/NOTIFY within
	// moments; this is the backstop). 0 turns the cache off.
	PrincipalCacheTTL Duration `yaml:"principal_cache_ttl"`
	// BulkMaxTickets bounds a bulk action: the ids it names, the tickets
	// its query matches.
	BulkMaxTickets int `yaml:"bulk_max_tickets"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		EnableEmailNotifications: true,
		DefaultPriority:          string(ticket.PriorityMedium),
		TicketExpirationDays:     7,
		StatusTransitions:        ticket.DefaultTransitions(),
		EnableEscalation:         true,
		AuditLogInterval:         DayDuration(24 * time.Hour),
		SLAPolicies:              DefaultSLAPolicies(),
		EscalationRules:          DefaultEscalationRules(),
		ExpiryAction:             "escalate",
		AutoCloseAfter:           Duration(4 * 24 * time.Hour),
		ReopenWindow:             Duration(14 * 24 * time.Hour),
		MaxAttachmentBytes:       10 << 20,
		MaxAttachmentsPerTicket:  50,

		HTTPAddr:           "127.0.0.1:8080",
		ElasticsearchIndex: "tickets",
		TemporalAddress:    "127.0.0.1:7233",
		TemporalNamespace:  "helpdesk",
		TemporalRetention:  Duration(30 * 24 * time.Hour),
		TaskQueue:          "helpdesk-tickets",
		DataDir:            ".data",

		DevTemporalUIPort:    8233,
		DevPostgresPort:      5433,
		DevElasticsearchPort: 9200,
		DevMail:              true,
		DevIMAPPort:          1143,
		DevSMTPPort:          2525,
		LogLevel:             "info",

		SessionTTL:      Duration(7 * 24 * time.Hour),
		OIDCGroupsClaim: "groups",

		ClientIPHeader:             "X-Forwarded-For",
		LoginThrottleWindow:        Duration(15 * time.Minute),
		LoginMaxFailuresPerAccount: 5,
		LoginMaxFailuresPerAddress: 50,

		MailMaxMessageBytes: 25 << 20,
		MailMaxAttachments:  20,
		MailConcurrency:     8,
		MailRateLimit:       20,
		MailRateWindow:      Duration(10 * time.Minute),
		SMTPPort:            587,
		SMTPSecurity:        "starttls",
		MailFrom:            "Help Desk <support@helpdesk.local>",

		MaxBodyBytes:   1 << 20,
		UpdateTimeout:  Duration(10 * time.Second),
		IdempotencyTTL: Duration(24 * time.Hour),

		RequestTimeout:     Duration(30 * time.Second),
		DBStatementTimeout: Duration(30 * time.Second),
		DBLockTimeout:      Duration(10 * time.Second),
		PrincipalCacheTTL:  Duration(30 * time.Second),
		BulkMaxTickets:     10000,
	}
}

// OptionError names the option that is wrong and why.
type OptionError struct {
	Option string // YAML key, e.g. "default_priority"
	Source string // "file config.yaml" or "environment HELPDESK_DEFAULT_PRIORITY"
	Reason string
}

func (e *OptionError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("config: option %s (%s): %s", e.Option, e.Source, e.Reason)
	}
	return fmt.Sprintf("config: option %s: %s", e.Option, e.Reason)
}

// Load reads path (when non-empty) then applies environment overrides from
// env (os.Environ() format) and validates the result.
func Load(path string, env []string) (Config, error) {
	cfg := Default()
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		if err := decodeYAML(raw, &cfg, path); err != nil {
			return cfg, err
		}
	}
	if err := applyEnv(&cfg, env); err != nil {
		return cfg, err
	}
	cfg.fillMailDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func decodeYAML(raw []byte, cfg *Config, path string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("config: file %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file: all defaults
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config: file %s: want a mapping of option: value", path)
	}
	fields := yamlFields(cfg)
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		target, ok := fields[key]
		if !ok {
			return &OptionError{Option: key, Source: fmt.Sprintf("file %s line %d", path, root.Content[i].Line),
				Reason: "unknown option; known options are " + strings.Join(Options(), ", ")}
		}
		if val.Kind == yaml.ScalarNode && val.Tag == "!!null" {
			continue // `option:` with no value keeps the default
		}
		if err := val.Decode(target); err != nil {
			reason := err.Error()
			var oe *OptionError
			var te *yaml.TypeError
			if errors.As(err, &oe) {
				reason = oe.Reason
			} else if errors.As(err, &te) {
				reason = strings.Join(te.Errors, "; ")
			}
			return &OptionError{Option: key, Source: fmt.Sprintf("file %s line %d", path, val.Line), Reason: reason}
		}
	}
	return nil
}

// yamlFields maps each YAML key to a pointer to its field in cfg.
func yamlFields(cfg *Config) map[string]any {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	out := make(map[string]any, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
			out[tag] = v.Field(i).Addr().Interface()
		}
	}
	return out
}

// envOption binds one environment variable to one option.
type envOption struct {
	key string
	set func(*Config, string) error
}

func envOptions() []envOption {
	str := func(key string, f func(*Config) *string) envOption {
		return envOption{key, func(c *Config, v string) error { *f(c) = v; return nil }}
	}
	integer := func(key string, f func(*Config) *int) envOption {
		return envOption{key, func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want a whole number, got %q", v)
			}
			*f(c) = n
			return nil
		}}
	}
	boolean := func(key string, f func(*Config) *bool) envOption {
		return envOption{key, func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false, got %q", v)
			}
			*f(c) = b
			return nil
		}}
	}
	duration := func(key string, f func(*Config) *Duration) envOption {
		return envOption{key, func(c *Config, v string) error {
			d, err := ParseDuration(v)
			if err != nil {
				return err
			}
			*f(c) = Duration(d)
			return nil
		}}
	}
	return append(append([]envOption{
		boolean("enable_email_notifications", func(c *Config) *bool { return &c.EnableEmailNotifications }),
		str("default_priority", func(c *Config) *string { return &c.DefaultPriority }),
		integer("ticket_expiration_days", func(c *Config) *int { return &c.TicketExpirationDays }),
		{"status_transitions", func(c *Config, v string) error {
			// As in the file: the statuses given replace their moves, the
			// others keep theirs, and {} is the graph as it stands.
			if c.StatusTransitions == nil {
				c.StatusTransitions = map[string][]string{}
			}
			if err := json.Unmarshal([]byte(v), &c.StatusTransitions); err != nil {
				return fmt.Errorf("want a JSON object of status to allowed next statuses: %v", err)
			}
			return nil
		}},
		boolean("enable_escalation", func(c *Config) *bool { return &c.EnableEscalation }),
		{"audit_log_interval", func(c *Config, v string) error {
			d, err := ParseDayDuration(v)
			c.AuditLogInterval = DayDuration(d)
			return err
		}},
		lifecycleEnvOptions()[0], lifecycleEnvOptions()[1], lifecycleEnvOptions()[2],
		str("expiry_action", func(c *Config) *string { return &c.ExpiryAction }),
		duration("auto_close_after", func(c *Config) *Duration { return &c.AutoCloseAfter }),
		duration("reopen_window", func(c *Config) *Duration { return &c.ReopenWindow }),
		integer("max_attachment_bytes", func(c *Config) *int { return &c.MaxAttachmentBytes }),
		integer("max_attachments_per_ticket", func(c *Config) *int { return &c.MaxAttachmentsPerTicket }),
		integer("workflow_max_history_events", func(c *Config) *int { return &c.WorkflowMaxHistoryEvents }),
		integer("default_agent_capacity", func(c *Config) *int { return &c.DefaultAgentCapacity }),
		str("http_addr", func(c *Config) *string { return &c.HTTPAddr }),
		str("database_url", func(c *Config) *string { return &c.DatabaseURL }),
		str("elasticsearch_url", func(c *Config) *string { return &c.ElasticsearchURL }),
		str("elasticsearch_index", func(c *Config) *string { return &c.ElasticsearchIndex }),
		str("temporal_address", func(c *Config) *string { return &c.TemporalAddress }),
		str("temporal_namespace", func(c *Config) *string { return &c.TemporalNamespace }),
		duration("temporal_retention", func(c *Config) *Duration { return &c.TemporalRetention }),
		str("task_queue", func(c *Config) *string { return &c.TaskQueue }),
		str("data_dir", func(c *Config) *string { return &c.DataDir }),
		str("log_level", func(c *Config) *string { return &c.LogLevel }),
		integer("dev_temporal_ui_port", func(c *Config) *int { return &c.DevTemporalUIPort }),
		integer("dev_postgres_port", func(c *Config) *int { return &c.DevPostgresPort }),
		integer("dev_elasticsearch_port", func(c *Config) *int { return &c.DevElasticsearchPort }),
		duration("session_ttl", func(c *Config) *Duration { return &c.SessionTTL }),
		boolean("agents_see_all_tickets", func(c *Config) *bool { return &c.AgentsSeeAllTickets }),
		str("bootstrap_token", func(c *Config) *string { return &c.BootstrapToken }),
		{"trusted_proxies", func(c *Config, v string) error { c.TrustedProxies = splitList(v); return nil }},
		str("client_ip_header", func(c *Config) *string { return &c.ClientIPHeader }),
		duration("login_throttle_window", func(c *Config) *Duration { return &c.LoginThrottleWindow }),
		integer("login_max_failures_per_account", func(c *Config) *int { return &c.LoginMaxFailuresPerAccount }),
		integer("login_max_failures_per_address", func(c *Config) *int { return &c.LoginMaxFailuresPerAddress }),
		str("audit_export_dir", func(c *Config) *string { return &c.AuditExportDir }),
		str("cookie_secret", func(c *Config) *string { return &c.CookieSecret }),
		str("oidc_issuer", func(c *Config) *string { return &c.OIDCIssuer }),
		str("oidc_client_id", func(c *Config) *string { return &c.OIDCClientID }),
		str("oidc_client_secret", func(c *Config) *string { return &c.OIDCClientSecret }),
		str("oidc_redirect_url", func(c *Config) *string { return &c.OIDCRedirectURL }),
		str("oidc_groups_claim", func(c *Config) *string { return &c.OIDCGroupsClaim }),
		{"oidc_role_mapping", func(c *Config, v string) error {
			var m map[string]string
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return fmt.Errorf("want a JSON object of group to role: %v", err)
			}
			c.OIDCRoleMapping = m
			return nil
		}},
	}, mailEnvOptions(integer, duration, boolean, str)...), []envOption{
		integer("max_body_bytes", func(c *Config) *int { return &c.MaxBodyBytes }),
		duration("update_timeout", func(c *Config) *Duration { return &c.UpdateTimeout }),
		duration("idempotency_ttl", func(c *Config) *Duration { return &c.IdempotencyTTL }),
		duration("request_timeout", func(c *Config) *Duration { return &c.RequestTimeout }),
		duration("db_statement_timeout", func(c *Config) *Duration { return &c.DBStatementTimeout }),
		duration("db_lock_timeout", func(c *Config) *Duration { return &c.DBLockTimeout }),
		duration("principal_cache_ttl", func(c *Config) *Duration { return &c.PrincipalCacheTTL }),
		integer("bulk_max_tickets", func(c *Config) *int { return &c.BulkMaxTickets }),
	}...)
}

// EnvName is the environment variable that overrides option key.
func EnvName(key string) string { return "HELPDESK_" + strings.ToUpper(key) }

func applyEnv(cfg *Config, env []string) error {
	vals := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, "HELPDESK_") {
			vals[k] = v
		}
	}
	for _, o := range envOptions() {
		v, ok := vals[EnvName(o.key)]
		if !ok {
			continue
		}
		if err := o.set(cfg, v); err != nil {
			return &OptionError{Option: o.key, Source: "environment " + EnvName(o.key), Reason: err.Error()}
		}
	}
	return nil
}

// Validate checks every option and returns the first problem, naming it.
func (c Config) Validate() error {
	if _, err := ticket.ParsePriority(c.DefaultPriority); err != nil {
		return &OptionError{Option: "default_priority", Reason: err.Error()}
	}
	if c.TicketExpirationDays < 1 {
		return &OptionError{Option: "ticket_expiration_days", Reason: fmt.Sprintf("must be at least 1, got %d", c.TicketExpirationDays)}
	}
	if err := ticket.ValidateTransitions(c.StatusTransitions); err != nil {
		return &OptionError{Option: "status_transitions", Reason: err.Error()}
	}
	if err := c.validateLifecycle(); err != nil {
		return err
	}
	if err := c.validateMail(); err != nil {
		return err
	}
	if c.AuditLogInterval.D() < time.Minute {
		return &OptionError{Option: "audit_log_interval", Reason: fmt.Sprintf("must be at least 1m, got %s", c.AuditLogInterval)}
	}
	if c.HTTPAddr == "" {
		return &OptionError{Option: "http_addr", Reason: "must not be empty"}
	}
	if c.TemporalNamespace == "" {
		return &OptionError{Option: "temporal_namespace", Reason: "must not be empty"}
	}
	if c.TemporalRetention.D() < 24*time.Hour {
		return &OptionError{Option: "temporal_retention", Reason: "must be at least 1d so operators can inspect closed tickets"}
	}
	if c.TaskQueue == "" {
		return &OptionError{Option: "task_queue", Reason: "must not be empty"}
	}
	if c.ElasticsearchIndex == "" || strings.ToLower(c.ElasticsearchIndex) != c.ElasticsearchIndex {
		return &OptionError{Option: "elasticsearch_index", Reason: "must be a non-empty lower-case index name"}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &OptionError{Option: "log_level", Reason: fmt.Sprintf("want debug, info, warn or error, got %q", c.LogLevel)}
	}
	for key, port := range map[string]int{"dev_temporal_ui_port": c.DevTemporalUIPort, "dev_postgres_port": c.DevPostgresPort, "dev_elasticsearch_port": c.DevElasticsearchPort} {
		if port < 1 || port > 65535 {
			return &OptionError{Option: key, Reason: fmt.Sprintf("must be a TCP port (1-65535), got %d", port)}
		}
	}
	if c.SessionTTL.D() < time.Minute {
		return &OptionError{Option: "session_ttl", Reason: "must be at least 1m"}
	}
	if err := c.validateAccess(); err != nil {
		return err
	}
	if c.CookieSecret != "" && len(c.CookieSecret) < 32 {
		return &OptionError{Option: "cookie_secret", Reason: "must be at least 32 characters"}
	}
	if c.OIDCIssuer != "" {
		if c.OIDCClientID == "" {
			return &OptionError{Option: "oidc_client_id", Reason: "must be set when oidc_issuer is"}
		}
		if c.OIDCRedirectURL == "" {
			return &OptionError{Option: "oidc_redirect_url", Reason: "must be set when oidc_issuer is (…/api/v1/auth/sso/callback)"}
		}
	}
	for group, role := range c.OIDCRoleMapping {
		switch role {
		case "requester", "agent", "lead", "admin":
		default:
			return &OptionError{Option: "oidc_role_mapping", Reason: fmt.Sprintf("group %q maps to unknown role %q", group, role)}
		}
	}
	if c.DefaultAgentCapacity < 0 || c.DefaultAgentCapacity > 100000 {
		return &OptionError{Option: "default_agent_capacity", Reason: fmt.Sprintf("must be 0 (no cap) to 100000, got %d", c.DefaultAgentCapacity)}
	}
	if c.MaxBodyBytes < 1024 {
		return &OptionError{Option: "max_body_bytes", Reason: fmt.Sprintf("must be at least 1024, got %d", c.MaxBodyBytes)}
	}
	if c.BulkMaxTickets < 1 || c.BulkMaxTickets > 1000000 {
		return &OptionError{Option: "bulk_max_tickets", Reason: fmt.Sprintf("must be 1 to 1000000, got %d", c.BulkMaxTickets)}
	}
	if c.UpdateTimeout.D() < 100*time.Millisecond {
		return &OptionError{Option: "update_timeout", Reason: "must be at least 100ms"}
	}
	if c.IdempotencyTTL.D() < time.Minute {
		return &OptionError{Option: "idempotency_ttl", Reason: "must be at least 1m"}
	}
	if c.RequestTimeout.D() <= c.UpdateTimeout.D() {
		return &OptionError{Option: "request_timeout", Reason: fmt.Sprintf(
			"must be longer than update_timeout (%s): a request waits for its workflow within its own deadline, got %s", c.UpdateTimeout, c.RequestTimeout)}
	}
	for _, o := range []struct {
		key string
		d   Duration
	}{{"db_statement_timeout", c.DBStatementTimeout}, {"db_lock_timeout", c.DBLockTimeout}} {
		if o.d != 0 && o.d.D() < 100*time.Millisecond {
			return &OptionError{Option: o.key, Reason: fmt.Sprintf("must be 0 (no limit) or at least 100ms, got %s", o.d)}
		}
	}
	if c.PrincipalCacheTTL.D() < 0 || c.PrincipalCacheTTL.D() > 10*time.Minute {
		return &OptionError{Option: "principal_cache_ttl", Reason: "must be between 0 (off) and 10m"}
	}
	return nil
}

// Options lists every option key in the order the README documents them.
func Options() []string {
	var keys []string
	for _, o := range envOptions() {
		keys = append(keys, o.key)
	}
	return keys
}
