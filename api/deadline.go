package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL's codes for a statement cancelled by statement_timeout (or a
// cancel request) and for a lock not granted within lock_timeout.
const (
	pgQueryCanceled     = "57014"
	pgLockNotAvailable  = "55P03"
	deadlineRetryAfter  = 5
	streamWriteDeadline = 60 * time.Second
)

// deadline gives every request a context that ends after request_timeout
// (handlers use c.UserContext()), except on routes declared long. A handler
// that failed because the deadline passed, or because PostgreSQL cancelled
// its statement (statement_timeout, lock_timeout), answers 503 with
// Retry-After: the server was too slow, the request may well succeed later.
func (s *Server) deadline(c *fiber.Ctx) error {
	if s.optionsFor(c.Method(), c.Path()).long {
		return c.Next()
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout.D())
	defer cancel()
	c.SetUserContext(ctx)
	err := c.Next()
	if err != nil && timedOut(ctx, err) {
		s.log.Warn("request ran out of time", "method", c.Method(), "path", c.Path(), "err", err)
		return unavailable(fmt.Sprintf("the server did not finish the request within its time (request_timeout %s or a database limit); try again",
			s.cfg.RequestTimeout), deadlineRetryAfter)
	}
	return err
}

// timedOut reports whether err is a failure caused by time rather than an
// answer: a problem or a Fiber error a handler chose is kept as it is.
func timedOut(ctx context.Context, err error) bool {
	var p *Problem
	var fe *fiber.Error
	if errors.As(err, &p) || errors.As(err, &fe) {
		return false
	}
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (pg.Code == pgQueryCanceled || pg.Code == pgLockNotAvailable)
}

// streamBody answers with what write produces while it works, for a route
// declared long: the answer is sent in chunks as it is written. Fiber v2
// cannot see a client that went away, so a failed write is the sign: it
// cancels ctx and fails every later write, which ends the work. Each write
// must reach the client within a minute; the whole answer has no limit.
func (s *Server) streamBody(c *fiber.Ctx, write func(ctx context.Context, w io.Writer) error) {
	base := context.WithoutCancel(c.UserContext()) // the handler returns before write runs
	conn := c.Context().Conn()
	method, path := c.Method(), c.Path()
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		ctx, cancel := context.WithCancelCause(base)
		defer cancel(nil)
		w := &clientWriter{bw: bw, conn: conn, cancel: cancel}
		err := write(ctx, w)
		if err == nil {
			err = w.flush()
		}
		if err != nil && w.err == nil {
			s.log.Error("streamed answer failed", "method", method, "path", path, "err", err)
		}
	})
}

// clientWriter writes a streamed answer; the first failed write is kept,
// cancels the work and fails every write after it.
type clientWriter struct {
	bw     *bufio.Writer
	conn   interface{ SetWriteDeadline(time.Time) error }
	cancel context.CancelCauseFunc
	err    error
}

func (w *clientWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(streamWriteDeadline))
	n, err := w.bw.Write(p)
	if err == nil {
		err = w.bw.Flush() // each write goes out now, so a gone client shows at once
	}
	if err != nil {
		w.fail(err)
	}
	return n, err
}

func (w *clientWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

func (w *clientWriter) fail(err error) {
	w.err = fmt.Errorf("api: writing to the client: %w", err)
	w.cancel(w.err)
}
