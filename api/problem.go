package api

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Problem is an RFC 9457 problem document, the body of every error answer.
type Problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Errors []FieldError `json:"errors,omitempty"`
	// Fields a specific problem adds.
	RetryAfter int `json:"retry_after,omitempty"`
	// Allowed lists the status moves a ticket may make instead (transition
	// not allowed); an empty list is kept, a nil one left out.
	Allowed []string `json:"allowed,omitzero"`

	headers map[string]string
}

// FieldError says what is wrong with one request field.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
	// Position is the byte offset of the problem in a search query (the
	// field is a query: q, query), for the UI to point at.
	Position *int `json:"position,omitempty"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// Problem types. They are stable identifiers documented in docs/api.md.
const (
	typeMalformed          = "/problems/malformed-request"
	typeValidation         = "/problems/validation-error"
	typeTooLarge           = "/problems/request-too-large"
	typeUnsupported        = "/problems/unsupported-media-type"
	typeNotFound           = "/problems/not-found"
	typeIdempotency        = "/problems/idempotency-key-reused"
	typeUnavailable        = "/problems/temporarily-unavailable"
	typeInternal           = "/problems/internal-error"
	typeMethodNotAllow     = "/problems/method-not-allowed"
	typeUnauthenticated    = "/problems/unauthenticated"
	typeInvalidCredentials = "/problems/invalid-credentials"
	typeTooManyAttempts    = "/problems/too-many-attempts"
	typeForbidden          = "/problems/forbidden"
	typeCSRF               = "/problems/csrf"
	typeConflict           = "/problems/conflict"
	typeTransition         = "/problems/transition-not-allowed"
	typeArchived           = "/problems/ticket-archived"
)

func malformed(detail string) *Problem {
	return &Problem{Type: typeMalformed, Title: "Malformed request", Status: fiber.StatusBadRequest, Detail: detail}
}

func invalid(detail string, errs ...FieldError) *Problem {
	return &Problem{Type: typeValidation, Title: "Validation failed", Status: fiber.StatusUnprocessableEntity, Detail: detail, Errors: errs}
}

func notFound(detail string) *Problem {
	return &Problem{Type: typeNotFound, Title: "Not found", Status: fiber.StatusNotFound, Detail: detail}
}

func unavailable(detail string, retryAfter int) *Problem {
	return &Problem{
		Type: typeUnavailable, Title: "Temporarily unavailable", Status: fiber.StatusServiceUnavailable,
		Detail: detail, RetryAfter: retryAfter,
		headers: map[string]string{fiber.HeaderRetryAfter: strconv.Itoa(retryAfter)},
	}
}

// errorHandler turns every error a handler returns, and Fiber's own (body
// too large, unknown route), into problem+json. Anything unexpected is a 500
// whose detail does not leak internals.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var p *Problem
	var fe *fiber.Error
	switch {
	case errors.As(err, &p):
	case errors.As(err, &fe):
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			p = s.tooLarge(c)
		case fiber.StatusNotFound:
			p = notFound("no such resource: " + c.Path())
		case fiber.StatusMethodNotAllowed:
			p = &Problem{Type: typeMethodNotAllow, Title: "Method not allowed", Status: fe.Code, Detail: c.Method() + " is not allowed on " + c.Path()}
		case fiber.StatusBadRequest:
			p = malformed(fe.Message)
		default:
			p = &Problem{Type: "about:blank", Title: fe.Message, Status: fe.Code}
		}
	default:
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		p = &Problem{Type: typeInternal, Title: "Internal error", Status: fiber.StatusInternalServerError,
			Detail: "the server failed to handle the request; it has been logged"}
	}
	for k, v := range p.headers {
		c.Set(k, v)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(p.Status).JSON(p, "application/problem+json")
}
