// Package intake is the email channel's way in: it watches each configured
// IMAP mailbox (see Poller) and turns every message into exactly one durable
// outcome (see Processor): a new ticket, a comment on the ticket it answers,
// a delivery failure noted on the ticket a bounce concerns, an ignored
// auto-reply or list message (kept, never acted on), or a quarantine entry
// with its reason. Nothing is dropped and nothing is done twice: the
// message's dedupe key is UNIQUE in PostgreSQL and every Temporal call made
// for it carries an ID derived from that key.
package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/helpdesk/helpdesk/internal/config"
	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/mailauth"
	"github.com/helpdesk/helpdesk/internal/mailout"
	"github.com/helpdesk/helpdesk/internal/mailparse"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/worker"
	"github.com/helpdesk/helpdesk/workflows"
)

// Outcomes of Process besides the mail_messages outcomes.
const OutcomeQuarantined = "quarantined"

// maxCommentBytes matches the API's bound on a comment body.
const maxCommentBytes = 64 << 10

// Outcome is what became of one message.
type Outcome struct {
	Outcome      string `json:"outcome"` // ticket, comment, followup, bounce, ignored, quarantined
	MailID       int64  `json:"mail_id,omitempty"`
	Ticket       int64  `json:"ticket,omitempty"`
	CommentID    int64  `json:"comment_id,omitempty"`
	QuarantineID int64  `json:"quarantine_id,omitempty"`
	Reason       string `json:"reason,omitempty"`
	// UnverifiedSender: the mail claimed a staff address without being
	// authenticated; it acted as a participant only.
	UnverifiedSender bool `json:"unverified_sender,omitempty"`
	// Again is true when the message had been processed before (a
	// redelivery or a restart): nothing new was written.
	Again bool `json:"again,omitempty"`
}

// Processor turns raw messages into tickets and comments.
type Processor struct {
	Store    *store.Store
	Users    *identity.Service
	Temporal client.Client
	Config   config.Config
	Log      *slog.Logger
	// Hook, when set, is called at named points of processing; tests use it
	// to crash the process between steps.
	Hook func(point string)

	policy workflows.Policy
	keys   mailout.Keyring
}

// NewProcessor returns a Processor for cfg.
func NewProcessor(st *store.Store, users *identity.Service, tc client.Client, cfg config.Config, log *slog.Logger) *Processor {
	if log == nil {
		log = slog.Default()
	}
	return &Processor{Store: st, Users: users, Temporal: tc, Config: cfg, Log: log, policy: worker.PolicyFromConfig(cfg)}
}

func (p *Processor) hook(point string) {
	if p.Hook != nil {
		p.Hook(point)
	}
}

// Waive lifts one check when an admin releases a quarantined message.
type Waive string

// Process handles one raw message received in mailbox mb. A nil error means
// the outcome is durable and the message may leave the mailbox; an error
// means "try again later" (PostgreSQL or Temporal unavailable) and nothing
// that was written is lost or doubled by the retry.
func (p *Processor) Process(ctx context.Context, mb config.Mailbox, raw []byte, waive Waive) (Outcome, error) {
	lim := mailparse.Limits{
		MaxMessageBytes:    int64(p.Config.MailMaxMessageBytes),
		MaxAttachments:     p.Config.MailMaxAttachments,
		MaxAttachmentBytes: int64(p.Config.MaxAttachmentBytes),
	}
	switch waive {
	case mailparse.ReasonTooLarge:
		lim.MaxMessageBytes = int64(len(raw)) + 1
	case mailparse.ReasonTooManyAttachments:
		lim.MaxAttachments = 1 << 20
	case mailparse.ReasonAttachmentTooLarge:
		lim.MaxAttachmentBytes = int64(len(raw)) + 1
	}
	msg, err := mailparse.Parse(raw, lim, p.own())
	if err != nil {
		var rej *mailparse.Rejection
		if !errors.As(err, &rej) {
			return Outcome{}, fmt.Errorf("intake: parse: %w", err)
		}
		sum := sha256.Sum256(raw)
		h := hex.EncodeToString(sum[:])
		return p.quarantine(ctx, mb, store.NewQuarantine{Reason: rej.Reason, Detail: rej.Detail,
			DedupeKey: "sha256:" + h, ContentHash: h, Subject: headerGuess(raw, "Subject"), From: addressGuess(headerGuess(raw, "From")),
			MessageID: strings.Trim(headerGuess(raw, "Message-ID"), "<> ")}, raw)
	}
	if waive == ReasonReusedMessageID {
		// Released by an admin: a message of its own, keyed by its bytes.
		msg.DedupeKey = "sha256:" + msg.RawSHA256
	}
	p.hook("parsed")

	existing, err := p.Store.MailByDedupeKey(ctx, msg.DedupeKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return Outcome{}, err
	default:
		if out, done, err := p.seenBefore(ctx, mb, msg, existing, raw, waive); err != nil || done {
			return out, err
		}
	}

	// The sender's recent mail is counted (under a per-sender lock) only when
	// the rate limit applies to this message.
	limited := waive != ReasonRateLimited && msg.Kind == mailparse.KindHuman && p.Config.MailRateLimit > 0
	nm := store.NewMail{DedupeKey: msg.DedupeKey, ContentHash: msg.ContentHash, Direction: "in",
		Mailbox: mb.Name, MessageID: msg.MessageID, From: msg.From.Email, Subject: msg.Subject, Kind: string(msg.Kind),
		Size: int64(len(raw)), SuppressAutoReply: msg.SuppressAutoReply}
	if limited {
		nm.RateWindow, nm.RateLimit, nm.OverLimitKeep = p.Config.MailRateWindow.D(), p.Config.MailRateLimit, keptLen(raw)
	}
	m, claimed, err := p.Store.ClaimMail(ctx, nm, raw)
	if err != nil {
		return Outcome{}, err
	}
	if !claimed { // another processor got there between the lookup and the claim
		if out, done, err := p.seenBefore(ctx, mb, msg, m, raw, waive); err != nil || done {
			return out, err
		}
	}
	p.hook("claimed")
	// The rate limit counts the sender's messages received before this one,
	// fixed on the row when it was claimed (under a per-sender lock), so
	// concurrent processing and re-processing after a crash decide the same.
	// Over the limit, only the headers and a bounded prefix are kept.
	if limited {
		if n := m.SenderRecent; n >= p.Config.MailRateLimit {
			q := p.quarantineOf(msg, ReasonRateLimited,
				fmt.Sprintf("%d earlier messages from %s within %s (mail_rate_limit %d)", n, msg.From.Email, p.Config.MailRateWindow, p.Config.MailRateLimit))
			return p.quarantineClaimed(ctx, mb, m, q, keepPrefix(&q, raw))
		}
	}
	out, err := p.act(ctx, mb, msg, m, waive)
	var ref *refusal
	if errors.As(err, &ref) {
		return p.quarantineMail(ctx, mb, msg, m, raw, ref.reason, ref.detail)
	}
	var appErr *temporal.ApplicationError
	if err != nil && errors.As(err, &appErr) && appErr.NonRetryable() {
		// The ticket's workflow refused what the mail asks for: retrying
		// cannot help, and the mail must not block the mailbox.
		return p.quarantineMail(ctx, mb, msg, m, raw, ReasonRejected, appErr.Message())
	}
	return out, err
}

// quarantineMail quarantines a claimed message and records that on its row.
func (p *Processor) quarantineMail(ctx context.Context, mb config.Mailbox, msg *mailparse.Message, m store.Mail, raw []byte, reason, detail string) (Outcome, error) {
	return p.quarantineClaimed(ctx, mb, m, p.quarantineOf(msg, reason, detail), raw)
}

// quarantineClaimed quarantines claimed message m as q with raw (all of it,
// or the prefix q says it is) and records that on its row.
func (p *Processor) quarantineClaimed(ctx context.Context, mb config.Mailbox, m store.Mail, q store.NewQuarantine, raw []byte) (Outcome, error) {
	out, err := p.quarantine(ctx, mb, q, raw)
	if err != nil {
		return Outcome{}, err
	}
	if err := p.Store.FinishMail(ctx, m.ID, OutcomeQuarantined, q.Reason+": "+q.Detail, nil, nil); err != nil {
		return Outcome{}, err
	}
	out.MailID = m.ID
	return out, nil
}

// Release processes a quarantined message again with the check that
// stopped it (reason) waived.
func (p *Processor) Release(ctx context.Context, mb config.Mailbox, raw []byte, reason string) (Outcome, error) {
	return p.Process(ctx, mb, raw, Waive(reason))
}

// Quarantine reasons the intake adds to mailparse's.
const (
	ReasonRateLimited     = "rate_limited"
	ReasonReusedMessageID = "reused_message_id"
	// ReasonRejected: the ticket's workflow refused the comment or ticket.
	ReasonRejected = "rejected"
	// ReasonUnverifiedSender: mail from a staff address that is not
	// authenticated, where the mailbox quarantines such mail or where it
	// would open a ticket in the staff member's name. Releasing it vouches
	// for the sender.
	ReasonUnverifiedSender = "unverified_sender"
	// ReasonOutOfScope: authenticated staff mail to a ticket outside the
	// sender's teams (the API's scope rule). Releasing it lets it through.
	ReasonOutOfScope = "out_of_scope"
)

// refusal is a decision, made while acting on a message, to quarantine it.
type refusal struct{ reason, detail string }

func (r *refusal) Error() string { return "intake: quarantine: " + r.reason + ": " + r.detail }

// seenBefore decides about a message whose dedupe key is recorded: the same
// content finished is a repeat (nothing to do); the same content still
// processing is finished now; other content under the same Message-ID goes
// to quarantine. An error means nothing was decided: try again later.
func (p *Processor) seenBefore(ctx context.Context, mb config.Mailbox, msg *mailparse.Message, m store.Mail, raw []byte, waive Waive) (Outcome, bool, error) {
	if m.Direction == "out" {
		// A copy of mail the help desk sent (a Cc or forward to our inbox):
		// ours, recorded when it went out; never acted on.
		return Outcome{Outcome: "ignored", MailID: m.ID, Reason: "our own message came back", Again: true}, true, nil
	}
	if m.ContentHash != msg.ContentHash {
		out, err := p.quarantine(ctx, mb, p.quarantineOf(msg, ReasonReusedMessageID,
			fmt.Sprintf("Message-ID <%s> was already received (mail %d) with other content", msg.MessageID, m.ID)), raw)
		return out, err == nil, err
	}
	if m.Outcome == "processing" {
		return Outcome{}, false, nil
	}
	if m.Outcome == OutcomeQuarantined && waive != "" {
		// Released by an admin: process it again, the check waived.
		return Outcome{}, false, p.Store.ReopenMail(ctx, m.ID)
	}
	out := Outcome{Outcome: m.Outcome, MailID: m.ID, Reason: m.Reason, Again: true}
	if m.TicketNumber != nil {
		out.Ticket = *m.TicketNumber
	}
	if m.CommentID != nil {
		out.CommentID = *m.CommentID
	}
	return out, true, nil
}

func (p *Processor) quarantineOf(msg *mailparse.Message, reason, detail string) store.NewQuarantine {
	return store.NewQuarantine{Reason: reason, Detail: detail, DedupeKey: msg.DedupeKey, ContentHash: msg.ContentHash,
		MessageID: msg.MessageID, From: msg.From.Email, Subject: msg.Subject}
}

func (p *Processor) quarantine(ctx context.Context, mb config.Mailbox, q store.NewQuarantine, raw []byte) (Outcome, error) {
	q.Mailbox = mb.Name
	e, err := p.Store.Quarantine(ctx, q, raw)
	if err != nil {
		return Outcome{}, err
	}
	p.Log.Warn("mail quarantined", "mailbox", mb.Name, "quarantine", e.ID, "reason", q.Reason, "detail", q.Detail, "from", q.From)
	return Outcome{Outcome: OutcomeQuarantined, QuarantineID: e.ID, Reason: q.Reason + ": " + q.Detail}, nil
}

func (p *Processor) own() mailparse.Own {
	own := mailparse.Own{LoopHeader: LoopHeader}
	for _, mb := range p.Config.Mailboxes {
		own.Addresses = append(own.Addresses, mb.Address)
	}
	return own
}

// LoopHeader is carried by every message the help desk sends.
const LoopHeader = "X-Helpdesk-Loop"

// act does what the message asks for and records it. A *refusal means the
// message goes to quarantine.
func (p *Processor) act(ctx context.Context, mb config.Mailbox, msg *mailparse.Message, m store.Mail, waive Waive) (Outcome, error) {
	finish := func(out Outcome) (Outcome, error) {
		out.MailID = m.ID
		var tn, cid *int64
		if out.Ticket != 0 {
			tn = &out.Ticket
		}
		if out.CommentID != 0 {
			cid = &out.CommentID
		}
		if err := p.Store.FinishMail(ctx, m.ID, out.Outcome, out.Reason, tn, cid); err != nil {
			return Outcome{}, err
		}
		p.hook("finished")
		return out, nil
	}
	switch msg.Kind {
	case mailparse.KindBounce:
		return p.bounce(ctx, msg, m, finish)
	case mailparse.KindHuman:
	default:
		// Auto-replies, bulk and list mail and our own mail: kept, never
		// acted on, and never answered.
		return finish(Outcome{Outcome: "ignored", Reason: fmt.Sprintf("%s (%s)", msg.Kind, msg.KindReason)})
	}

	user, err := p.requester(ctx, msg.From)
	if err != nil {
		return Outcome{}, err
	}
	who, err := p.sender(ctx, mb, msg, user, waive)
	if err != nil {
		return Outcome{}, err
	}
	number, how, err := p.thread(ctx, msg, who)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	switch {
	case number != 0:
		out, err = p.comment(ctx, msg, m, who, number, how, waive)
	case who.unverified:
		return Outcome{}, &refusal{ReasonUnverifiedSender, fmt.Sprintf(
			"%s is a staff address (%s) and the mail is not authenticated (%s); it would open a ticket in their name",
			user.Email, user.Role, who.trust)}
	default:
		out, err = p.newTicket(ctx, mb, msg, m, user, nil)
	}
	if err != nil {
		return Outcome{}, err
	}
	if who.unverified {
		// Files from a sender who may not be who they say stay in the raw
		// message (staff can download it); on the ticket they would stand
		// as the staff member's uploads.
		out.UnverifiedSender = true
		out.Reason += "; unverified sender (" + who.trust + "); attachments kept in the raw message only"
	} else if err := p.attach(ctx, out.Ticket, msg, user); err != nil {
		return Outcome{}, err
	}
	return finish(out)
}

// sender is who a message may act as.
type sender struct {
	user identity.User
	// staff: a staff member, authenticated; acts as staff within scope.
	staff bool
	scope identity.Scope
	// unverified: a staff address without authentication: acts as a
	// participant only, and its comment is flagged.
	unverified bool
	// trust says how the sender was authenticated, or why not.
	trust string
}

// sender decides who msg may act as (docs/email.md, "Sender trust"): only
// authenticated mail from a staff address acts as staff; mail from a
// requester's address acts as that requester, authenticated or not, as
// mail always has. Unauthenticated staff mail is quarantined or acts as a
// participant, as the mailbox says; a release (waive) vouches for it.
func (p *Processor) sender(ctx context.Context, mb config.Mailbox, msg *mailparse.Message, u identity.User, waive Waive) (sender, error) {
	s := sender{user: u}
	if !u.Role.Staff() {
		return s, nil
	}
	v := p.trust(mb, msg)
	s.trust = v.Reason
	if !v.Pass && waive != ReasonUnverifiedSender {
		p.Log.Warn("mail from a staff address is not authenticated", "mailbox", mb.Name, "from", u.Email, "why", v.Reason)
		if mb.UnverifiedStaff == config.UnverifiedStaffQuarantine {
			return s, &refusal{ReasonUnverifiedSender, fmt.Sprintf("%s is a staff address (%s) and the mail is not authenticated: %s",
				u.Email, u.Role, v.Reason)}
		}
		s.unverified = true
		return s, nil
	}
	if !v.Pass {
		s.trust = "released by an admin"
	}
	teams, err := p.Users.TeamsOf(ctx, u.ID)
	if err != nil {
		return s, err
	}
	s.staff = true
	s.scope = identity.TicketScope(identity.Principal{User: u, TeamIDs: teams},
		identity.ScopeOptions{AgentsSeeAllTickets: p.Config.AgentsSeeAllTickets})
	return s, nil
}

// trust reports whether msg's From is authenticated for mailbox mb.
func (p *Processor) trust(mb config.Mailbox, msg *mailparse.Message) mailauth.Verdict {
	if mb.TrustSender {
		return mailauth.Verdict{Pass: true, Reason: "mailbox " + mb.Name + " trusts its senders (trust_sender)"}
	}
	return mailauth.Check(msg.AuthResults, p.Config.TrustedAuthservID(mb), msg.AuthorDomain)
}

// requester finds the sender's account, creating a requester account for an
// unknown sender.
func (p *Processor) requester(ctx context.Context, from mailparse.Address) (identity.User, error) {
	u, err := p.Users.UserByEmail(ctx, from.Email)
	if err == nil || !errors.Is(err, identity.ErrNotFound) {
		return u, err
	}
	name := strings.TrimSpace(from.Name)
	if name == "" {
		name, _, _ = strings.Cut(from.Email, "@")
	}
	name = ticket.CutRunes(name, 100)
	u, err = p.Users.CreateUser(ctx, identity.NewUser{Email: from.Email, Name: name, Role: identity.RoleRequester})
	if errors.Is(err, identity.ErrConflict) { // created meanwhile by another message
		return p.Users.UserByEmail(ctx, from.Email)
	}
	if err != nil {
		// A name the identity rules refuse must not lose the mail.
		u, err = p.Users.CreateUser(ctx, identity.NewUser{Email: from.Email, Name: from.Email, Role: identity.RoleRequester})
		if errors.Is(err, identity.ErrConflict) {
			return p.Users.UserByEmail(ctx, from.Email)
		}
	}
	if err == nil {
		p.Log.Info("requester account created from mail", "user", u.ID, "email", u.Email)
	}
	return u, err
}

// thread finds the ticket a message answers: by the Message-IDs it
// references (mail the help desk sent or received), then by a [#N] tag in
// the subject, the latter only when the sender is the ticket's requester or
// took part in it. A referenced ticket the sender has no part in is not
// theirs to comment on: their mail opens a ticket of its own.
func (p *Processor) thread(ctx context.Context, msg *mailparse.Message, u sender) (int64, string, error) {
	refs := append(append([]string{}, msg.InReplyTo...), msg.References...)
	if n, ok, err := p.Store.ThreadTicket(ctx, refs); err != nil {
		return 0, "", err
	} else if ok {
		if ok, err := p.mayComment(ctx, n, u); err != nil || ok {
			return n, "references", err
		}
	}
	if n, ok := mailparse.SubjectTag(msg.Subject); ok {
		if ok, err := p.mayComment(ctx, n, u); err != nil || ok {
			return n, "subject tag", err
		}
	}
	return 0, "", nil
}

// mayComment: authenticated staff may thread onto any ticket (whether it
// is theirs to write to is decided next, in comment); everyone else,
// unverified staff addresses included, only onto tickets they take part in.
func (p *Processor) mayComment(ctx context.Context, number int64, u sender) (bool, error) {
	if _, err := p.Store.Ticket(ctx, number); errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if u.staff {
		return true, nil
	}
	return p.Store.IsParticipant(ctx, number, u.user.ID)
}

func requestID(prefix, dedupeKey string) string {
	return prefix + "-" + workflows.HashID("mail:"+dedupeKey)
}

// comment adds the reply to ticket number, or opens a follow-up ticket when
// that ticket was closed for good.
//
// Authenticated staff write as staff only to tickets in their scope (the
// API's rule); mail to another ticket goes to quarantine. An unverified
// staff address writes as a participant (no agent reply mailed on, no
// requester follow-up unless it is the ticket's requester), flagged, and
// never opens a follow-up ticket in the staff member's name.
func (p *Processor) comment(ctx context.Context, msg *mailparse.Message, m store.Mail, who sender, number int64, how string, waive Waive) (Outcome, error) {
	u := who.user
	t, err := p.Store.Ticket(ctx, number)
	if err != nil {
		return Outcome{}, err
	}
	if who.staff && !who.scope.All() && waive != ReasonOutOfScope {
		pred, args := who.scope.SQL("t", 2)
		if _, err := p.Store.TicketInScope(ctx, number, pred, args); errors.Is(err, store.ErrNotFound) {
			return Outcome{}, &refusal{ReasonOutOfScope, fmt.Sprintf("%s (%s) may not write to ticket #%d: it is not in their teams",
				u.Email, u.Role, number)}
		} else if err != nil {
			return Outcome{}, err
		}
	}
	followUp := func() (Outcome, error) {
		if who.unverified {
			return Outcome{}, &refusal{ReasonUnverifiedSender, fmt.Sprintf(
				"%s is a staff address (%s) and the mail is not authenticated (%s); ticket #%d was closed for good and a follow-up would open in their name",
				u.Email, u.Role, who.trust, number)}
		}
		return p.newTicket(ctx, config.Mailbox{}, msg, m, u, &t)
	}
	if t.ArchivedAt != nil {
		return followUp()
	}
	body := commentBody(msg)
	id := requestID("cmt", msg.DedupeKey)
	payload := map[string]any{"body": body}
	actor := workflows.Actor{UserID: u.ID, Role: string(u.Role)}
	if who.unverified {
		payload["unverified_sender"] = true
		actor.Role = workflows.RoleParticipant
	}
	if err := p.Store.PutRequestPayload(ctx, id, number, payload); err != nil {
		return Outcome{}, err
	}
	p.hook("payload")
	res, err := p.update(ctx, number, workflows.UpdateComment, id, workflows.CommentRequest{RequestID: id, Actor: actor})
	if err != nil {
		if archived(err) {
			return followUp()
		}
		return Outcome{}, err
	}
	p.hook("commented")
	return Outcome{Outcome: "comment", Ticket: number, CommentID: res.CommentID, Reason: "threaded by " + how}, nil
}

func (p *Processor) update(ctx context.Context, number int64, name, id string, arg any) (workflows.ChangeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Config.UpdateTimeout.D())
	defer cancel()
	return p.flows().Update(ctx, number, name, id, arg)
}

// flows is the ticket workflows' client.
func (p *Processor) flows() workflows.Client {
	return workflows.Client{Temporal: p.Temporal, TaskQueue: p.Config.TaskQueue, Policy: &p.policy}
}

// archived reports whether an Update failed because the ticket was closed
// for good (its reopen window ended).
func archived(err error) bool {
	var a *workflows.ArchivedError
	return errors.As(err, &a)
}

// newTicket opens a ticket from msg; with old set, a follow-up linked to it.
func (p *Processor) newTicket(ctx context.Context, mb config.Mailbox, msg *mailparse.Message, m store.Mail, u identity.User, old *ticket.Ticket) (Outcome, error) {
	subject := strings.TrimSpace(msg.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	uid := u.ID
	draft := ticket.Draft{Subject: ticket.CutRunes(subject, ticket.MaxSubjectRunes), Description: ticket.CutBytes(msg.Text, ticket.MaxDescriptionBytes),
		Priority: ticket.Priority(p.Config.DefaultPriority), RequesterID: &uid, CategoryID: mb.CategoryID, Actor: fmt.Sprintf("user:%d", uid)}
	outcome, reason := "ticket", "new message"
	if old != nil {
		// The same follow-up the web UI opens (ticket.FollowUp), under the
		// mail's own subject ("Re: " and the old one when it has none).
		draft = ticket.FollowUp(*old, uid, strings.TrimSpace(msg.Subject), commentBody(msg), ticket.Priority(p.Config.DefaultPriority))
		outcome, reason = "followup", fmt.Sprintf("ticket #%d was closed for good", old.Number)
	}
	draft.Channel = ticket.ChannelEmail
	key := "mail:" + msg.DedupeKey
	canonical := []byte(fmt.Sprintf("%s\x00%s", msg.ContentHash, outcome))
	hash := sha256.Sum256(canonical)
	res, err := p.Store.ReserveTicketNumber(ctx, key, hash[:], draft, p.Config.IdempotencyTTL.D())
	if err != nil {
		return Outcome{}, err
	}
	p.hook("reserved")
	sctx, cancel := context.WithTimeout(ctx, p.Config.UpdateTimeout.D())
	_, err = p.flows().StartReserved(sctx, res.Number, res.New, key, draft, p.Store.TicketExists)
	cancel()
	if err != nil {
		return Outcome{}, fmt.Errorf("intake: create ticket %d: %w", res.Number, err)
	}
	p.hook("created")
	return Outcome{Outcome: outcome, Ticket: res.Number, Reason: reason}, nil
}

// minInlineBytes: inline images smaller than this (signature logos,
// tracking pixels) stay in the raw message only.
const minInlineBytes = 16 << 10

// attach records the message's attachments on ticket number, each under a
// request ID derived from the message and its position, so a repeat after a
// crash finds the same rows and the same Updates. An attachment the ticket
// has no room for (max_attachments_per_ticket) or that its workflow refuses
// stays in the raw message, which is always downloadable.
func (p *Processor) attach(ctx context.Context, number int64, msg *mailparse.Message, u identity.User) error {
	for i, a := range msg.Attachments {
		if a.Inline && len(a.Data) < minInlineBytes {
			continue
		}
		rid := requestID(fmt.Sprintf("att%d", i), msg.DedupeKey)
		sum := sha256.Sum256(a.Data)
		uid := u.ID
		row, _, err := p.Store.CreateAttachment(ctx, store.NewAttachment{TicketNumber: number, RequestID: rid,
			Filename: a.Filename, ContentType: a.ContentType, SHA256: sum[:], Content: a.Data, UploaderID: &uid},
			p.Config.MaxAttachmentsPerTicket)
		if errors.Is(err, store.ErrAttachmentLimit) {
			p.Log.Warn("mail attachment not added: the ticket is at its attachment limit", "ticket", number, "file", a.Filename)
			continue
		}
		if err != nil {
			return err
		}
		if row.Seq != nil {
			continue // recorded before a crash
		}
		_, err = p.update(ctx, number, workflows.UpdateAttach, rid, workflows.AttachRequest{RequestID: rid,
			Actor: workflows.Actor{UserID: u.ID, Role: string(u.Role)}, AttachmentID: row.ID})
		// Refused for good: the workflow rejected it, the ticket is closed
		// for good, or recording it failed in a way no retry changes (a
		// non-retryable activity error); the message keeps the file.
		var rejected *workflows.RejectedError
		var appErr *temporal.ApplicationError
		if err != nil && (errors.As(err, &rejected) || archived(err) || errors.As(err, &appErr) && appErr.NonRetryable()) {
			p.Log.Warn("mail attachment refused by the ticket", "ticket", number, "file", a.Filename, "err", err)
			_ = p.Store.DeleteUnlinkedAttachment(ctx, row.ID)
			continue
		}
		if err != nil {
			return err
		}
	}
	p.hook("attached")
	return nil
}

// bounce notes a delivery failure on the ticket whose mail bounced, when
// the report proves it concerns mail the help desk sent: it came back to
// the signed return path of that mail, or it quotes that mail's signed
// Message-ID. Anything else is ignored (kept with the reason): anyone can
// write a delivery report, and a forged one must not put words on a
// ticket.
func (p *Processor) bounce(ctx context.Context, msg *mailparse.Message, m store.Mail, finish func(Outcome) (Outcome, error)) (Outcome, error) {
	d := msg.Bounce
	signer, err := p.keys.Signer(ctx, p.Config.MailSecret, p.sharedKey)
	if err != nil {
		return Outcome{}, err
	}
	number, verified := verifyBounce(signer, msg)
	if number != 0 {
		if _, err := p.Store.Ticket(ctx, number); errors.Is(err, store.ErrNotFound) {
			number = 0
		} else if err != nil {
			return Outcome{}, err
		}
	}
	if number == 0 {
		reason, err := p.unverifiedBounce(ctx, msg)
		if err != nil {
			return Outcome{}, err
		}
		return finish(Outcome{Outcome: "ignored", Reason: reason})
	}
	var b strings.Builder
	b.WriteString("Delivery failure")
	if d != nil {
		if len(d.Recipients) > 0 {
			fmt.Fprintf(&b, " to %s", strings.Join(d.Recipients, ", "))
		}
		if d.Status != "" {
			fmt.Fprintf(&b, " (status %s)", d.Status)
		}
		if d.Diagnostic != "" {
			fmt.Fprintf(&b, ": %s", d.Diagnostic)
		}
	}
	id := requestID("bounce", msg.DedupeKey)
	if err := p.Store.PutRequestPayload(ctx, id, number, map[string]string{"body": ticket.CutBytes(b.String(), maxCommentBytes)}); err != nil {
		return Outcome{}, err
	}
	res, err := p.update(ctx, number, workflows.UpdateComment, id,
		workflows.CommentRequest{RequestID: id, Actor: workflows.Actor{Role: ticket.RoleSystem}, Internal: true})
	if err != nil {
		if archived(err) {
			return finish(Outcome{Outcome: "bounce", Ticket: number, Reason: "ticket closed for good; failure kept with the mail only"})
		}
		return Outcome{}, err
	}
	return finish(Outcome{Outcome: "bounce", Ticket: number, CommentID: res.CommentID, Reason: b.String() + " (verified by " + verified + ")"})
}

// verifyBounce finds the ticket a delivery report proves it is about: by
// the signed return path it was sent back to (as the delivering servers
// recorded it, or in To, where reporting servers put it), else by the
// signed Message-ID of the returned message. 0 when neither checks.
func verifyBounce(s *mailout.Signer, msg *mailparse.Message) (int64, string) {
	for _, rcpt := range msg.Recipients {
		if ref, ok := s.CheckReturnPath(rcpt); ok {
			return ref.Ticket, "its return path"
		}
	}
	if d := msg.Bounce; d != nil && d.OriginalMessageID != "" {
		if ref, ok := s.CheckMessageID(d.OriginalMessageID); ok {
			return ref.Ticket, "the Message-ID it quotes"
		}
	}
	return 0, ""
}

// unverifiedBounce says why a delivery report that proves nothing is
// ignored: it names mail we never sent, or it claims ours (a Message-ID we
// recorded or of our form, or one of our return paths) without the HMAC
// to back it, which is a forgery or concerns mail sent before signing.
func (p *Processor) unverifiedBounce(ctx context.Context, msg *mailparse.Message) (string, error) {
	var original string
	if msg.Bounce != nil {
		original = msg.Bounce.OriginalMessageID
	}
	claim := strings.HasPrefix(strings.ToLower(original), "ticket-")
	for _, rcpt := range msg.Recipients {
		claim = claim || strings.Contains(rcpt, "+bounce-")
	}
	naming := ""
	if original != "" {
		n, ok, err := p.Store.ThreadTicket(ctx, []string{original})
		if err != nil {
			return "", err
		}
		if ok {
			claim, naming = true, fmt.Sprintf(" naming ticket #%d", n)
		}
	}
	if !claim {
		return "delivery failure for a message the help desk did not send", nil
	}
	p.Log.Warn("unverified delivery failure ignored", "message_id", original, "from", msg.From.Email, "naming", naming)
	return fmt.Sprintf("unverified delivery failure%s: it came back to no signed return path and quotes no signed Message-ID (<%s>)",
		naming, original), nil
}

func (p *Processor) sharedKey(ctx context.Context) ([]byte, error) {
	return p.Store.SharedSecret(ctx, mailout.SharedKeyName)
}

// commentBody is the reply text without quoted history, never empty.
func commentBody(msg *mailparse.Message) string {
	body := strings.TrimSpace(msg.Reply)
	if body == "" {
		body = strings.TrimSpace(msg.Text)
	}
	if body == "" {
		body = "(no text; see the original message)"
	}
	return ticket.CutBytes(body, maxCommentBytes)
}

// addressGuess is the address in a From header mailparse refused.
func addressGuess(v string) string {
	if a, err := mail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address)
	}
	return v
}

// headerGuess reads a header from a message mailparse refused, for the
// quarantine list (best effort, bounded).
func headerGuess(raw []byte, name string) string {
	head := raw
	if len(head) > 64<<10 {
		head = head[:64<<10]
	}
	for _, line := range strings.Split(string(head), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.ToValidUTF8(strings.TrimSpace(v), "")
		}
	}
	return ""
}
