package api

import (
	"bytes"
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

// decodeObject parses a JSON object body strictly: a syntax error is 400;
// anything that is not an object, or has unknown fields, is 422.
func decodeObject(c *fiber.Ctx, known ...string) (map[string]json.RawMessage, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return nil, &Problem{Type: typeUnsupported, Title: "Unsupported media type", Status: fiber.StatusUnsupportedMediaType,
			Detail: "send the request body as application/json"}
	}
	body := c.Body()
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, malformed(fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", se, se.Offset))
		}
		return nil, malformed("the body is not valid JSON")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, invalid("the body must be a JSON object")
	}
	allowed := map[string]bool{}
	for _, k := range known {
		allowed[k] = true
	}
	var errs []FieldError
	for _, k := range sortedKeys(obj) {
		if !allowed[k] {
			errs = append(errs, FieldError{Field: k, Detail: "unknown field; allowed fields are " + strings.Join(known, ", ")})
		}
	}
	if len(errs) > 0 {
		return nil, invalid("the body has unknown fields", errs...)
	}
	return obj, nil
}

// stringField decodes an optional string field; null counts as absent. A
// value of another type adds a field error and reads as absent.
func stringField(obj map[string]json.RawMessage, name string, errs *[]FieldError) *string {
	raw, ok := obj[name]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		*errs = append(*errs, FieldError{Field: name, Detail: "must be a string"})
		return nil
	}
	return &s
}

// createTicket reserves the ticket number for the request's idempotency key,
// then starts the ticket's workflow and waits, through the create Update,
// until the ticket is durable in PostgreSQL.
func (s *Server) createTicket(c *fiber.Ctx) error {
	obj, err := decodeObject(c, "subject", "description", "priority", "assignee", "team", "category_id", "custom_fields")
	if err != nil {
		return err
	}
	draft, errs := s.parseDraft(obj)
	p := principalOf(c)
	draft.Channel = ticket.ChannelAPI
	if p.Via == identity.ViaSession {
		draft.Channel = ticket.ChannelWeb
	}
	draft.CategoryID, _ = nullableID(obj, "category_id", &errs)
	input, _ := objectField(obj, "custom_fields", &errs)
	if input == nil {
		input = map[string]json.RawMessage{}
	}
	_, values, cerrs, err := s.ticketCatalog(c.UserContext(), p, draft.CategoryID, true, input, nil)
	if err != nil {
		return err
	}
	errs = append(errs, cerrs...)
	for k, v := range values {
		if v != nil {
			if draft.CustomFields == nil {
				draft.CustomFields = map[string]any{}
			}
			draft.CustomFields[k] = v
		}
	}
	assignee, team := refField(obj, "assignee", &errs), refField(obj, "team", &errs)
	if (assignee.present && !assignee.null || team.present && !team.null) && !p.User.Role.Staff() {
		errs = append(errs, FieldError{Field: "assignee", Detail: "only agents, leads and admins may assign a new ticket"})
	} else {
		for _, r := range []struct {
			field   string
			resolve func(context.Context, string, refValue) (*int64, *FieldError, error)
			ref     refValue
			into    **int64
		}{{"assignee", s.resolveAssignee, assignee, &draft.AssigneeID}, {"team", s.resolveTeam, team, &draft.TeamID}} {
			id, fe, err := r.resolve(c.UserContext(), r.field, r.ref)
			if err != nil {
				return err
			}
			if fe != nil {
				errs = append(errs, *fe)
			}
			*r.into = id
		}
	}
	draft.RequesterID = &p.User.ID
	draft.Actor = fmt.Sprintf("user:%d", p.User.ID)
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
	ctx := c.UserContext()
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

// parseDraft validates a creation request, collecting every field error.
func (s *Server) parseDraft(obj map[string]json.RawMessage) (ticket.Draft, []FieldError) {
	var errs []FieldError
	subject := stringField(obj, "subject", &errs)
	description := stringField(obj, "description", &errs)
	priority := stringField(obj, "priority", &errs)

	draft := ticket.Draft{Priority: ticket.Priority(s.cfg.DefaultPriority)}
	if subject == nil {
		if len(errs) == 0 || errs[0].Field != "subject" { // not already "must be a string"
			errs = append(errs, FieldError{Field: "subject", Detail: "is required"})
		}
	} else {
		draft.Subject = strings.TrimSpace(*subject)
		switch n := utf8.RuneCountInString(draft.Subject); {
		case n == 0:
			errs = append(errs, FieldError{Field: "subject", Detail: "must not be empty"})
		case n > ticket.MaxSubjectRunes:
			errs = append(errs, FieldError{Field: "subject", Detail: fmt.Sprintf("must be at most %d characters, got %d", ticket.MaxSubjectRunes, n)})
		}
	}
	if description != nil {
		draft.Description = *description
		if len(draft.Description) > ticket.MaxDescriptionBytes {
			errs = append(errs, FieldError{Field: "description", Detail: fmt.Sprintf("must be at most %d bytes", ticket.MaxDescriptionBytes)})
		}
	}
	if priority != nil {
		p, err := ticket.ParsePriority(*priority)
		if err != nil {
			errs = append(errs, FieldError{Field: "priority", Detail: err.Error()})
		}
		draft.Priority = p
		draft.PrioritySet = true
	}
	return draft, errs
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
