package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/helpdesk/helpdesk/internal/decompress"
)

// anonymousBodyLimit is the largest body of a request that carries no
// credential (no Authorization header, no session cookie), on every route.
const anonymousBodyLimit = 64 << 10

// Routes declare what they need beyond their access rule with handleWith;
// a route registered with handle has the zero routeOptions.
type routeOptions struct {
	// upload: the body may be an attachment (max_attachment_bytes plus
	// multipart framing) for a caller with a credential; otherwise it is
	// max_body_bytes.
	upload bool
	// long: the route runs without request_timeout and must bound its own
	// work; it answers through streamBody, which ends the work when a write
	// to the client fails.
	long bool
	// decodes: the route accepts a Content-Encoding and reads its body only
	// through decodedBody (capped decompression); every other route answers
	// such a body with 415 before anything reads it.
	decodes bool
}

// routeRule is one route with non-zero options, matched by method and path
// before routing (at header time the router has not run yet).
type routeRule struct {
	method string
	segs   []string // ":name" matches any one non-empty segment
	opts   routeOptions
}

// handleWith registers a route like handle, with options.
func (s *Server) handleWith(method, path string, a *access, o routeOptions, h fiber.Handler) {
	s.rules = append(s.rules, routeRule{method: method, segs: strings.Split(strings.ToLower(path), "/"), opts: o})
	s.handle(method, path, a, h)
}

// optionsFor finds the options of the route a request will reach. It reads
// the path as Fiber's router does with its default settings (case
// insensitive, a trailing slash ignored, no unescaping), so a request is
// never given a larger limit than the route it reaches.
func (s *Server) optionsFor(method, path string) routeOptions {
	if !slices.ContainsFunc(s.rules, func(r routeRule) bool { return r.method == method }) {
		return routeOptions{} // most requests: no split, no allocation
	}
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	segs := strings.Split(strings.ToLower(path), "/")
next:
	for _, r := range s.rules {
		if r.method != method || len(r.segs) != len(segs) {
			continue
		}
		for i, seg := range r.segs {
			if strings.HasPrefix(seg, ":") {
				if segs[i] == "" {
					continue next
				}
			} else if seg != segs[i] {
				continue next
			}
		}
		return r.opts
	}
	return routeOptions{}
}

// bodyLimit is the largest body a request to (method, path) may send.
func (s *Server) bodyLimit(method, path string, credentialed bool) int {
	limit := s.cfg.MaxBodyBytes
	if s.optionsFor(method, path).upload {
		limit = attachmentBodyLimit(s.cfg.MaxAttachmentBytes)
	}
	if !credentialed {
		limit = min(limit, anonymousBodyLimit)
	}
	return limit
}

// headerReceived is fasthttp's HeaderReceived hook: it sets the request's
// body limit from its route and whether it carries a credential, before a
// byte of the body is read. fasthttp refuses a larger Content-Length
// without reading the body and stops reading a chunked one at the limit.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	uri := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(uri)
	path := "/"
	if err := uri.Parse(nil, h.RequestURI()); err == nil {
		path = string(uri.PathOriginal())
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: s.bodyLimit(string(h.Method()), path, carriesCredential(h))}
}

// carriesCredential: the request sends an Authorization header or a
// session cookie (valid or not; that is checked after the body is read).
// Limits are decided on this, at header time and after.
func carriesCredential(h *fasthttp.RequestHeader) bool {
	return len(h.Peek(fasthttp.HeaderAuthorization)) > 0 || len(h.Cookie(sessionCookie)) > 0
}

func credentialed(c *fiber.Ctx) bool { return carriesCredential(&c.Request().Header) }

// tooLarge is the 413 for a body over the request's limit.
func (s *Server) tooLarge(c *fiber.Ctx) *Problem {
	withCredential := credentialed(c)
	limit := s.bodyLimit(c.Method(), c.Path(), withCredential)
	var detail string
	switch {
	case !withCredential:
		detail = fmt.Sprintf("the request body is larger than %d bytes, the most a request without credentials may send; sign in or send an API token", limit)
	case s.optionsFor(c.Method(), c.Path()).upload:
		detail = fmt.Sprintf("the request body is larger than %d bytes: files may have at most %d bytes (max_attachment_bytes)",
			limit, s.cfg.MaxAttachmentBytes)
	default:
		detail = fmt.Sprintf("the request body is larger than %d bytes (max_body_bytes)", limit)
	}
	// Whatever the client still sends is read and dropped for a moment
	// after the answer, so that it sees the 413 rather than a reset.
	if lc, ok := c.Context().Conn().(*lingerConn); ok {
		// A caller with a credential (someone who picked too large a
		// file) may still be sending up to about its own limit again; an
		// anonymous one gets the small budget and, past it, a reset.
		budget := int64(lingerBytes)
		if withCredential {
			budget = max(budget, 2*int64(limit))
		}
		lc.budget.Store(budget)
		lc.linger.Store(true)
	}
	return &Problem{Type: typeTooLarge, Title: "Request too large", Status: fiber.StatusRequestEntityTooLarge, Detail: detail}
}

func unsupportedEncoding(detail string) *Problem {
	return &Problem{Type: typeUnsupported, Title: "Unsupported media type", Status: fiber.StatusUnsupportedMediaType, Detail: detail}
}

// refuseEncodedBodies answers 415 to a request with a Content-Encoding
// other than identity, unless its route decodes bodies through
// decodedBody. It runs before anything reads the body: Fiber's Ctx.Body()
// would decompress it, without a limit.
func (s *Server) refuseEncodedBodies(c *fiber.Ctx) error {
	values := c.Request().Header.PeekAll(fiber.HeaderContentEncoding)
	if len(values) == 0 {
		return c.Next()
	}
	strs := make([]string, len(values))
	for i, v := range values {
		strs[i] = string(v)
	}
	codings, err := decompress.Codings(strs...)
	switch {
	case err == nil && len(codings) == 0:
		return c.Next()
	case err == nil && s.optionsFor(c.Method(), c.Path()).decodes:
		return c.Next()
	case err != nil:
		return unsupportedEncoding(fmt.Sprintf("Content-Encoding %q is not supported here; send the body uncompressed", strings.Join(strs, ", ")))
	}
	return unsupportedEncoding("this route does not accept compressed bodies (Content-Encoding); send the body uncompressed")
}

// decodedBody is the body of a route declared with decodes: the raw body,
// or its Content-Encoding undone with the request's body limit as the cap
// on what all layers together may produce (413 past it).
func (s *Server) decodedBody(c *fiber.Ctx) ([]byte, error) {
	raw := c.Request().Body() // never c.Body(): it decompresses without a limit
	values := c.Request().Header.PeekAll(fiber.HeaderContentEncoding)
	strs := make([]string, len(values))
	for i, v := range values {
		strs[i] = string(v)
	}
	codings, err := decompress.Codings(strs...)
	if err != nil {
		return nil, unsupportedEncoding(err.Error())
	}
	if len(codings) == 0 {
		return raw, nil
	}
	limit := s.bodyLimit(c.Method(), c.Path(), credentialed(c))
	r, err := decompress.NewReader(bytes.NewReader(raw), codings, int64(limit))
	if err != nil {
		return nil, malformed("the compressed body is malformed: " + err.Error())
	}
	out, err := io.ReadAll(r)
	switch {
	case errors.Is(err, decompress.ErrTooLarge):
		return nil, &Problem{Type: typeTooLarge, Title: "Request too large", Status: fiber.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the request body decompresses to more than %d bytes", limit)}
	case err != nil:
		return nil, malformed("the compressed body is malformed: " + err.Error())
	}
	return out, nil
}

// After a 413 the connection is closed with a body still coming. Closing a
// socket with unread data makes the kernel send a reset, which can destroy
// the answer before the client reads it. So the server first ends its own
// side (FIN after the 413), then reads and drops what the client still
// sends, for at most lingerTime or its budget (lingerBytes without a
// credential; twice the route's limit with one), and only then closes. A
// client that keeps sending past that gets a reset, with the 413 already
// delivered to its socket.
const (
	lingerTime  = time.Second
	lingerBytes = 256 << 10
	// maxLingering bounds the connections draining at once; past it a
	// connection closes at once.
	maxLingering = 256
)

// lingerListener hands out lingerConns.
type lingerListener struct {
	net.Listener
	draining atomic.Int64
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, l: l}, nil
}

// lingerConn drains before closing once tooLarge has marked it.
type lingerConn struct {
	net.Conn
	l      *lingerListener
	linger atomic.Bool
	// budget is how many bytes the drain reads at most.
	budget atomic.Int64
	once   sync.Once
}

func (c *lingerConn) Close() error {
	if !c.linger.Load() {
		return c.Conn.Close()
	}
	var err error
	c.once.Do(func() {
		if c.l.draining.Add(1) > maxLingering {
			c.l.draining.Add(-1)
			err = c.Conn.Close()
			return
		}
		go c.drainAndClose()
	})
	return err
}

func (c *lingerConn) drainAndClose() {
	defer c.l.draining.Add(-1)
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.Conn, max(c.budget.Load(), lingerBytes))
	_ = c.Conn.Close()
}
