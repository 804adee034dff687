package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/devstack/devmail"
	"github.com/helpdesk/helpdesk/internal/devstack/localsvc"
)

// devInbox is the help desk address `helpdesk dev` receives mail for.
const devInbox = "support@helpdesk.local"

// startDevMail runs the dev help desk inbox: Dovecot serving IMAP on
// dev_imap_port (login = an address, password "helpdesk"; every address has
// a mailbox) and an SMTP listener on dev_smtp_port delivering into it. Mail
// to support@helpdesk.local lands in the mailbox the intake watches (added to
// cfg.Mailboxes unless mailboxes are configured); mail to anyone else, such
// as the help desk's own notifications, in that person's mailbox.
func startDevMail(ctx context.Context, cfg *config.Config, dataDir string) (info string, stop func(), err error) {
	slog.Info("starting Dovecot", "imap_port", cfg.DevIMAPPort, "data", filepath.Join(dataDir, "mail"))
	dc, err := localsvc.StartDovecot(ctx, localsvc.DovecotOptions{DataDir: filepath.Join(dataDir, "mail"), IMAPPort: cfg.DevIMAPPort})
	if err != nil {
		return "", nil, fmt.Errorf("dev mail (set dev_mail=false to run without it): %w", err)
	}
	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.DevSMTPPort))
	// The listener stamps Authentication-Results as devmail.AuthservID,
	// which the dev inbox trusts: mail sent after logging in (any
	// password) as its From address acts as that person, staff included.
	srv, err := devmail.Start(ctx, devmail.Options{Addr: smtpAddr, Deliver: dc.Deliver, Log: slog.Default().With("component", "devmail"),
		AuthservID: devmail.AuthservID})
	if err != nil {
		_ = dc.Stop()
		return "", nil, fmt.Errorf("dev mail: SMTP on %s (option dev_smtp_port): %w", smtpAddr, err)
	}
	if len(cfg.Mailboxes) == 0 {
		cfg.Mailboxes = []config.Mailbox{{Name: "dev-support", Address: devInbox, Host: "127.0.0.1", Port: dc.IMAPPort(),
			Security: "none", User: devInbox, Password: dc.Password(), Folder: "INBOX", Processed: "move",
			ProcessedFolder: "Processed", PollInterval: config.Duration(30 * time.Second), AuthservID: devmail.AuthservID,
			UnverifiedStaff: config.UnverifiedStaffComment}}
	}
	if cfg.SMTPHost == "" { // notifications go to the recipients' dev mailboxes
		cfg.SMTPHost, cfg.SMTPPort, cfg.SMTPSecurity = "127.0.0.1", cfg.DevSMTPPort, "none"
	}
	stop = func() {
		if err := srv.Close(); err != nil {
			slog.Warn("stop SMTP listener", "err", err)
		}
		if err := dc.Stop(); err != nil {
			slog.Warn("stop Dovecot", "err", err)
		}
	}
	info = fmt.Sprintf("send to %s via SMTP %s; read any mailbox on IMAP %s (login = address, password %q)",
		devInbox, srv.Addr(), dc.IMAPAddr(), dc.Password())
	return info, stop, nil
}
