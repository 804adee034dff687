package activities

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/mailout"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
)

// Mailer delivers outbox notifications to requesters by email.
type Mailer struct {
	Store *store.Store
	Users *identity.Service
	SMTP  mailout.SMTP
	From  mail.Address
	// Enabled is enable_email_notifications; SMTP.Host empty also turns
	// mail off (every notification is then skipped with the reason).
	Enabled bool
	// Secret is mail_secret, the key of the HMAC in Message-IDs and
	// return paths; empty: the key kept in PostgreSQL.
	Secret string

	keys mailout.Keyring
}

// ErrMailRefused is the type of a permanent SMTP refusal (not retried).
const ErrMailRefused = "MailRefused"

// MailResult says what became of one notification.
type MailResult struct {
	State     string `json:"state"` // sent, skipped, failed
	Reason    string `json:"reason,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	To        string `json:"to,omitempty"`
}

// SendOutboxEmail mails outbox notification id to the ticket's requester,
// or records why it is not mailed. The message is recorded (Message-ID and
// bytes) before it is sent, so a retry sends the same message again, and a
// reply to it threads onto the ticket.
func (m *Mailer) SendOutboxEmail(ctx context.Context, id int64) (MailResult, error) {
	e, err := m.Store.OutboxByID(ctx, id)
	if err != nil {
		return MailResult{}, err
	}
	if e.EmailState != "pending" {
		return MailResult{State: e.EmailState, Reason: "already handled"}, nil
	}
	skip := func(reason string) (MailResult, error) {
		if err := m.Store.SetOutboxEmailState(ctx, id, "skipped", reason); err != nil {
			return MailResult{}, err
		}
		return MailResult{State: "skipped", Reason: reason}, nil
	}
	if !m.Enabled {
		return skip("enable_email_notifications is off")
	}
	if m.SMTP.Host == "" {
		return skip("no smtp_host configured")
	}
	t, err := m.Store.Ticket(ctx, e.TicketNumber)
	if err != nil {
		return MailResult{}, err
	}
	if t.RequesterID == nil {
		return skip("the ticket has no requester")
	}
	u, err := m.Users.UserByID(ctx, *t.RequesterID)
	if err != nil {
		return MailResult{}, err
	}
	if u.Disabled {
		return skip("the requester's account is disabled")
	}
	th, err := m.Store.TicketThread(ctx, t.Number)
	if err != nil {
		return MailResult{}, err
	}

	var text string
	automatic := true
	subject := t.Subject
	greeting := "Hello " + firstName(u.Name) + ",\n\n"
	footer := fmt.Sprintf("\n\n-- \n%s\nTicket #%d: %s\nReply to this email to add to your ticket; please keep [#%d] in the subject.\n",
		m.From.Name, t.Number, t.Subject, t.Number)
	switch e.Kind {
	case ticket.OutboxTicketCreated:
		if u.Role.Staff() {
			return skip("the requester is staff (a ticket opened for themselves)")
		}
		text = greeting + fmt.Sprintf("we have received your request and opened ticket #%d for it:\n\n  %s\n\nWe will get back to you as soon as we can.", t.Number, t.Subject) + footer
	case ticket.OutboxAgentReply:
		c, err := m.Store.CommentAt(ctx, t.Number, e.Seq)
		if err != nil {
			return MailResult{}, err
		}
		if c.Internal {
			return skip("internal note")
		}
		author := m.From.Name
		if c.AuthorID != nil {
			if a, err := m.Users.UserByID(ctx, *c.AuthorID); err == nil {
				author = a.Name
			}
		}
		automatic = false
		subject = "Re: " + strings.TrimPrefix(t.Subject, "Re: ")
		text = c.Body + fmt.Sprintf("\n\n-- \n%s, %s\nTicket #%d: %s\nReply to this email to answer; please keep [#%d] in the subject.\n",
			author, m.From.Name, t.Number, t.Subject, t.Number)
	case ticket.OutboxStatusChanged:
		// A payload this version cannot read has no status to mail.
		n, _ := e.Payload.(ticket.StatusChangedNotice)
		switch n.To {
		case ticket.StatusResolved:
			text = greeting + fmt.Sprintf("your ticket #%d has been resolved:\n\n  %s\n\nIf the problem is not solved, reply to this email and the ticket opens again.", t.Number, t.Subject) + footer
		case ticket.StatusClosed:
			text = greeting + fmt.Sprintf("your ticket #%d is now closed:\n\n  %s\n\nReply to this email if you need more help.", t.Number, t.Subject) + footer
		default:
			return skip("status " + string(n.To) + " is not mailed")
		}
	default:
		return skip(e.Kind + " is not mailed to requesters")
	}
	if automatic && th.SuppressAutoReply {
		return skip("the requester's mail asked for no automatic replies (X-Auto-Response-Suppress)")
	}

	signer, err := m.keys.Signer(ctx, m.Secret, m.sharedKey)
	if err != nil {
		return MailResult{}, err
	}
	msgID := signer.MessageID(t.Number, id, m.From)
	raw, err := mailout.Compose(mailout.Message{From: m.From, To: mail.Address{Name: u.Name, Address: u.Email},
		Number: t.Number, Subject: subject, Text: text, MessageID: msgID, InReplyTo: th.LastInbound,
		References: th.MessageIDs, Automatic: automatic, Date: e.CreatedAt})
	if err != nil {
		return MailResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrMailRefused, err)
	}
	number := t.Number
	kind := "notification"
	if !automatic {
		kind = "human"
	}
	rec, raw, err := m.Store.RecordOutboundMail(ctx, store.NewMail{DedupeKey: "mid:" + strings.ToLower(msgID), ContentHash: "out:" + msgID,
		Direction: "out", MessageID: msgID, From: m.From.Address, Subject: mailout.Subject(t.Number, subject), Kind: kind,
		Size: int64(len(raw)), TicketNumber: &number}, id, raw)
	if err != nil {
		return MailResult{}, err
	}
	// The envelope sender is the signed VERP address: a bounce comes back
	// to it and proves which message failed (intake checks the HMAC).
	if err := m.SMTP.Send(ctx, signer.ReturnPath(t.Number, id, m.From), []string{u.Email}, raw); err != nil {
		var perm *mailout.PermanentError
		if errors.As(err, &perm) {
			if serr := m.Store.SetOutboxEmailState(ctx, id, "failed", err.Error()); serr != nil {
				return MailResult{}, serr
			}
			_ = m.Store.FinishMail(ctx, rec.ID, "sent", "refused: "+err.Error(), nil, nil)
			return MailResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrMailRefused, err)
		}
		_ = m.Store.SetOutboxEmailState(ctx, id, "pending", err.Error()) // counts the attempt
		return MailResult{}, err
	}
	if err := m.Store.FinishMail(ctx, rec.ID, "sent", "to "+u.Email, nil, nil); err != nil {
		return MailResult{}, err
	}
	if err := m.Store.SetOutboxEmailState(ctx, id, "sent", "to "+u.Email); err != nil {
		return MailResult{}, err
	}
	return MailResult{State: "sent", MessageID: msgID, To: u.Email}, nil
}

func (m *Mailer) sharedKey(ctx context.Context) ([]byte, error) {
	return m.Store.SharedSecret(ctx, mailout.SharedKeyName)
}

// GiveUpOutboxEmail records that a notification could not be mailed within
// the retry budget.
func (m *Mailer) GiveUpOutboxEmail(ctx context.Context, id int64, reason string) error {
	e, err := m.Store.OutboxByID(ctx, id)
	if err != nil || e.EmailState != "pending" {
		return err
	}
	return m.Store.SetOutboxEmailState(ctx, id, "failed", reason)
}

func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return "there"
}
