package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/internal/ticket"
	"github.com/helpdesk/helpdesk/workflows"
)

const (
	maxIdempotencyKey = 255
	retryAfterSeconds = 5
)

// draftBody is a POST /tickets body.
type draftBody struct {
	Subject      Field[string]                     `json:"subject"`
	Description  Field[string]                     `json:"description"`
	Priority     Field[string]                     `json:"priority"`
	Assignee     Field[json.RawMessage]            `json:"assignee"`
	Team         Field[json.RawMessage]            `json:"team"`
	CategoryID   Field[json.RawMessage]            `json:"category_id"`
	CustomFields Field[map[string]json.RawMessage] `json:"custom_fields"`
}

// draftInput is a creation request checked for everything that needs
// neither the caller nor the store.
type draftInput struct {
	draft          ticket.Draft // subject, description, priority and category
	assignee, team refValue
	fields         map[string]json.RawMessage // custom_fields, never nil
}

// parseDraft reads a creation request; a ticket without a priority gets
// def.
func parseDraft(body []byte, def ticket.Priority) (draftInput, []FieldError, error) {
	var b draftBody
	if err := decodeBody(body, &b); err != nil {
		return draftInput{}, nil, err
	}
	var e fieldErrors
	in := draftInput{draft: ticket.Draft{Priority: def}}
	if subj := parseSubject(&e, b.Subject); subj != nil {
		in.draft.Subject = *subj
	} else if !e.has("subject") {
		e.add("subject", "is required")
	}
	if d := parseDescription(&e, b.Description); d != nil {
		in.draft.Description = *d
	}
	if pr := parsePriority(&e, b.Priority); pr != nil {
		in.draft.Priority, in.draft.PrioritySet = *pr, true
	}
	in.assignee, in.team = ref(&e, "assignee", b.Assignee), ref(&e, "team", b.Team)
	in.draft.CategoryID, _ = nullableID(&e, "category_id", b.CategoryID)
	if in.fields = object(&e, "custom_fields", b.CustomFields); in.fields == nil {
		in.fields = map[string]json.RawMessage{}
	}
	return in, e, nil
}

// createTicket reserves the ticket number for the request's idempotency key,
// then starts the ticket's workflow and waits, through the create Update,
// until the ticket is durable in PostgreSQL.
func (s *Server) createTicket(c *fiber.Ctx) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	in, errs, err := parseDraft(c.Body(), ticket.Priority(s.cfg.DefaultPriority))
	if err != nil {
		return err
	}
	p, ctx := principalOf(c), c.UserContext()
	draft, rerrs, err := s.resolveDraft(ctx, p, in)
	if err != nil {
		return err
	}
	errs = append(errs, rerrs...)
	key := c.Get("Idempotency-Key")
	if utf8.RuneCountInString(key) > maxIdempotencyKey {
		errs = append(errs, FieldError{Field: "Idempotency-Key", Detail: fmt.Sprintf("header must be at most %d characters", maxIdempotencyKey)})
	}
	if len(errs) > 0 {
		return invalid("the ticket is not valid", errs...)
	}
	// Keys are per user: one user's key never finds another's ticket.
	if key == "" {
		key = "auto:" + randomKey()
	} else {
		key = fmt.Sprintf("user:%d:%s", p.User.ID, key)
	}
	res, err := s.reserve(ctx, key, draft)
	if err != nil {
		return err
	}
	existed, err := s.startReserved(ctx, res, key, draft)
	if err != nil {
		return err
	}
	t, err := s.store.Ticket(ctx, res.Number)
	if err != nil {
		return err
	}
	c.Location(ticketPath(t.Number))
	if existed {
		return s.sendTicket(c, fiber.StatusOK, t)
	}
	return s.sendTicket(c, fiber.StatusCreated, t)
}

// resolveDraft completes a parsed creation request for p: its channel,
// requester and actor, its custom field values checked against the
// catalog, and its assignee and team looked up (staff only).
func (s *Server) resolveDraft(ctx context.Context, p *identity.Principal, in draftInput) (ticket.Draft, []FieldError, error) {
	draft := in.draft
	draft.Channel = ticket.ChannelAPI
	if p.Via == identity.ViaSession {
		draft.Channel = ticket.ChannelWeb
	}
	draft.RequesterID = &p.User.ID
	draft.Actor = fmt.Sprintf("user:%d", p.User.ID)
	values, errs, err := s.ticketCatalog(ctx, p, draft.CategoryID, true, in.fields, nil)
	if err != nil {
		return draft, nil, err
	}
	for k, v := range values {
		if v != nil {
			if draft.CustomFields == nil {
				draft.CustomFields = map[string]any{}
			}
			draft.CustomFields[k] = v
		}
	}
	if (in.assignee.present && !in.assignee.null || in.team.present && !in.team.null) && !p.User.Role.Staff() {
		return draft, append(errs, FieldError{Field: "assignee", Detail: "only agents, leads and admins may assign a new ticket"}), nil
	}
	for _, r := range []struct {
		field   string
		resolve func(context.Context, string, refValue) (*int64, *FieldError, error)
		ref     refValue
		into    **int64
	}{{"assignee", s.resolveAssignee, in.assignee, &draft.AssigneeID}, {"team", s.resolveTeam, in.team, &draft.TeamID}} {
		id, fe, err := r.resolve(ctx, r.field, r.ref)
		if err != nil {
			return draft, nil, err
		}
		if fe != nil {
			errs = append(errs, *fe)
		}
		*r.into = id
	}
	return draft, errs, nil
}

// reserve reserves (or finds) the ticket number for a creation request
// under key; a key already used with another request is a 422 problem.
func (s *Server) reserve(ctx context.Context, key string, draft ticket.Draft) (store.Reservation, error) {
	canonical, _ := json.Marshal(draft)
	hash := sha256.Sum256(canonical)
	res, err := s.store.ReserveTicketNumber(ctx, key, hash[:], draft, s.cfg.IdempotencyTTL.D())
	if err != nil {
		return res, err
	}
	if !res.SameRequest {
		return res, &Problem{Type: typeIdempotency, Title: "Idempotency key reused", Status: fiber.StatusUnprocessableEntity,
			Detail: "this Idempotency-Key was already used with a different request body; use a new key for a new ticket",
			Errors: []FieldError{{Field: "Idempotency-Key", Detail: "already used with a different request"}}}
	}
	return res, nil
}

// startReserved starts the workflow of the ticket reserved as res unless
// an earlier attempt made it (workflows.Client.StartReserved; existed
// reports that), and waits until the create Update completes (the ticket
// is in PostgreSQL). A worker that does not answer within update_timeout
// yields 503: the request is kept and a retry with the same
// Idempotency-Key finishes it.
func (s *Server) startReserved(ctx context.Context, res store.Reservation, key string, d ticket.Draft) (existed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout.D())
	defer cancel()
	existed, err = s.flows().StartReserved(ctx, res.Number, res.New, key, d, s.store.TicketExists)
	if err == nil {
		return existed, nil
	}
	var late *workflows.UnavailableError
	if errors.As(err, &late) {
		s.log.Warn("ticket creation not confirmed in time", "ticket", res.Number, "err", err)
		return false, unavailable(fmt.Sprintf("ticket #%d was accepted but not confirmed within %s; retry with the same Idempotency-Key",
			res.Number, s.cfg.UpdateTimeout), retryAfterSeconds)
	}
	return false, fmt.Errorf("api: create ticket %d: %w", res.Number, err)
}

// detail is a single ticket as answered: with the status moves allowed
// from where it is.
func (s *Server) detail(t ticket.Ticket) ticket.Ticket {
	t.AllowedStatuses = append([]string{}, s.cfg.StatusTransitions[string(t.Status)]...)
	return t
}

func (s *Server) getTicket(c *fiber.Ctx) error {
	if t, ok := c.Locals(ticketKey).(ticket.Ticket); ok {
		return s.sendTicket(c, fiber.StatusOK, s.detail(t))
	}
	n, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || n <= 0 {
		return notFound(fmt.Sprintf("ticket %q does not exist", c.Params("id")))
	}
	sql, args := s.scope(principalOf(c)).SQL("t", 2)
	t, err := s.store.TicketInScope(c.UserContext(), n, sql, args)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("ticket %d does not exist", n))
	}
	if err != nil {
		return err
	}
	return s.sendTicket(c, fiber.StatusOK, s.detail(t))
}

type ticketPage struct {
	// Items are []ticket.Ticket for staff, []ticket.RequesterView otherwise.
	Items      any     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

func encodeCursor(before int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("t:" + strconv.FormatInt(before, 10)))
}

func decodeCursor(s string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	num, ok := strings.CutPrefix(string(raw), "t:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err == nil && n > 0
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func ticketPath(n int64) string { return "/api/v1/tickets/" + strconv.FormatInt(n, 10) }

func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// hashID keeps Temporal IDs short and free of client-chosen characters.
func hashID(key string) string { return workflows.HashID(key) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
