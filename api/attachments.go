package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/identity"
	"github.com/helpdesk/helpdesk/internal/store"
	"github.com/helpdesk/helpdesk/workflows"
)

const (
	// multipartOverhead is what an upload's body may carry besides the file
	// itself: boundaries, part headers, the internal field.
	multipartOverhead = 64 << 10
	// maxAttachmentFilename is the longest stored filename, in characters.
	maxAttachmentFilename = 255
	// typeAttachmentLimit: the ticket already has max_attachments_per_ticket.
	typeAttachmentLimit = "/problems/attachment-limit-reached"
)

// attachmentJSON is an attachment as the API shows it.
type attachmentJSON struct {
	ID          int64     `json:"id"`
	TicketID    int64     `json:"ticket_id"`
	Filename    string    `json:"filename"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Internal    bool      `json:"internal"`
	CreatedAt   time.Time `json:"created_at"`
}

func toAttachmentJSON(a store.Attachment) attachmentJSON {
	return attachmentJSON{ID: a.ID, TicketID: a.TicketNumber, Filename: a.Filename, ContentType: a.ContentType,
		Size: a.Size, SHA256: hex.EncodeToString(a.SHA256), Internal: a.Internal, CreatedAt: a.CreatedAt}
}

func attachmentPath(n, id int64) string {
	return ticketPath(n) + "/attachments/" + strconv.FormatInt(id, 10)
}

// attachmentBodyLimit is the largest request body an upload may send.
func attachmentBodyLimit(maxAttachmentBytes int) int { return maxAttachmentBytes + multipartOverhead }

// seesInternal reports whether the caller may see and add internal
// attachments: whoever may write internal comments.
func (s *Server) seesInternal(p *identity.Principal) (bool, error) {
	return s.enforcer.Enforce(string(p.User.Role), "ticket", "comment_internal")
}

// upload is a parsed attachment request.
type upload struct {
	filename string
	// content is a slice of the request body as fasthttp read it, the one
	// bounded buffer the upload lives in (never copied before it is
	// stored); it is valid only while the handler runs.
	content  []byte
	internal bool
}

// parseUpload reads a multipart/form-data body with one part "file" and an
// optional field "internal" (true or false). mime/multipart checks the
// framing; the file's bytes are taken from the body where they lie, after
// checking they are exactly what the reader decoded (a part in a
// Content-Transfer-Encoding, which RFC 7578 forbids, is refused).
func (s *Server) parseUpload(c *fiber.Ctx) (upload, error) {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return upload{}, &Problem{Type: typeUnsupported, Title: "Unsupported media type", Status: fiber.StatusUnsupportedMediaType,
			Detail: "send the file as multipart/form-data in a part named \"file\""}
	}
	var u upload
	var errs []FieldError
	files := 0
	body := c.Request().Body() // the raw body: Content-Encoding was refused before
	spans := partSpans(body, params["boundary"])
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return upload{}, malformed("the multipart body is malformed: " + err.Error())
		}
		switch name := part.FormName(); name {
		case "file":
			files++
			if i >= len(spans) {
				return upload{}, malformed("the multipart body is malformed: the file part is not framed by its boundary")
			}
			if err := sameContent(part, spans[i]); err != nil {
				return upload{}, malformed("the multipart body is malformed: " + err.Error())
			}
			if len(spans[i]) > s.cfg.MaxAttachmentBytes {
				return upload{}, &Problem{Type: typeTooLarge, Title: "Request too large", Status: fiber.StatusRequestEntityTooLarge,
					Detail: fmt.Sprintf("the file is larger than %d bytes (max_attachment_bytes)", s.cfg.MaxAttachmentBytes)}
			}
			u.content, u.filename = spans[i], part.FileName()
		case "internal":
			raw, err := io.ReadAll(io.LimitReader(part, 16))
			if err != nil {
				return upload{}, malformed("the multipart body is malformed: " + err.Error())
			}
			switch strings.TrimSpace(string(raw)) {
			case "true":
				u.internal = true
			case "false", "":
			default:
				errs = append(errs, FieldError{Field: "internal", Detail: "must be true or false"})
			}
		default:
			errs = append(errs, FieldError{Field: name, Detail: "unknown field; allowed fields are file, internal"})
		}
	}
	switch {
	case files == 0:
		errs = append(errs, FieldError{Field: "file", Detail: "is required: send the file in a part named \"file\""})
	case files > 1:
		errs = append(errs, FieldError{Field: "file", Detail: "send one file per request"})
	case len(u.content) == 0:
		errs = append(errs, FieldError{Field: "file", Detail: "must not be empty"})
	}
	if len(errs) > 0 {
		return upload{}, invalid("the attachment is not valid", errs...)
	}
	u.filename = sanitizeFilename(u.filename)
	return u, nil
}

// partSpans returns each part's content in a multipart body as slices of
// the body, split as mime/multipart's reader splits it: parts begin after
// the first line that is "--boundary" (plus spaces or tabs), which also
// says whether lines end in CRLF or LF; a part's headers end at an empty
// line; its content runs to the next newline + "--boundary" followed by
// "--", a space, a tab, CR or LF. Framing the reader refuses ends the list
// early; parseUpload trusts a span only once sameContent agrees.
func partSpans(body []byte, boundary string) [][]byte {
	dash := []byte("--" + boundary)
	nl := []byte("\r\n")
	pos := 0
	for { // the preamble, up to the first delimiter line
		end := bytes.IndexByte(body[pos:], '\n')
		if end < 0 {
			return nil
		}
		line := body[pos : pos+end+1]
		pos += end + 1
		if rest, ok := bytes.CutPrefix(line, dash); ok {
			rest = bytes.TrimLeft(rest, " \t")
			if len(rest) == 1 && rest[0] == '\n' {
				nl = nl[1:]
			}
			if bytes.Equal(rest, nl) {
				break
			}
		}
	}
	delim := append(append([]byte(nil), nl...), dash...)
	var spans [][]byte
	for {
		for { // the part's headers, through the empty line
			end := bytes.IndexByte(body[pos:], '\n')
			if end < 0 {
				return spans
			}
			line := body[pos : pos+end+1]
			pos += end + 1
			if len(bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))) == 0 {
				break
			}
		}
		end := -1
		for from := pos; ; {
			j := bytes.Index(body[from:], delim)
			if j < 0 {
				return spans
			}
			after := body[from+j+len(delim):]
			if len(after) == 0 || bytes.IndexByte([]byte(" \t\r\n"), after[0]) >= 0 || bytes.HasPrefix(after, []byte("--")) {
				end = from + j
				break
			}
			from += j + 1
		}
		spans = append(spans, body[pos:end])
		pos = end + len(delim)
		if bytes.HasPrefix(body[pos:], []byte("--")) {
			return spans
		}
		next := bytes.IndexByte(body[pos:], '\n')
		if next < 0 {
			return spans
		}
		pos += next + 1
	}
}

// errTransformedPart: the part's decoded bytes are not its raw bytes.
var errTransformedPart = errors.New("send the file's bytes as they are, without a Content-Transfer-Encoding")

// sameContent checks that the part decodes to exactly raw, reading it
// through a small buffer.
func sameContent(part io.Reader, raw []byte) error {
	buf := make([]byte, 32<<10)
	off := 0
	for {
		n, err := part.Read(buf)
		if n > 0 {
			if off+n > len(raw) || !bytes.Equal(buf[:n], raw[off:off+n]) {
				return errTransformedPart
			}
			off += n
		}
		if err == io.EOF {
			if off != len(raw) {
				return errTransformedPart
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// sanitizeFilename keeps the base name of a client's filename, without
// control or invisible formatting characters (e.g. right-to-left
// overrides), in at most 255 characters keeping the extension.
func sanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "attachment"
	}
	runes := []rune(name)
	if len(runes) <= maxAttachmentFilename {
		return name
	}
	ext := []rune{}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if e := []rune(name[i:]); len(e) <= 32 {
			ext = e
		}
	}
	return strings.TrimSpace(string(runes[:maxAttachmentFilename-len(ext)])) + string(ext)
}

// sniffType is the content type the bytes look like; the client's claim is
// never trusted.
func sniffType(content []byte) string {
	return http.DetectContentType(content[:min(len(content), 512)])
}

// activeContent reports whether a browser could run a type as a page or
// script; such files are served as application/octet-stream.
func activeContent(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return true
	}
	switch mt {
	case "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
		"text/xsl", "application/xslt+xml":
		return true
	}
	return strings.HasSuffix(mt, "+xml") || strings.Contains(mt, "javascript") || strings.Contains(mt, "ecmascript")
}

// contentDisposition makes the browser download the file under its name
// (RFC 6266: an ASCII fallback, then the UTF-8 name).
func contentDisposition(filename string) string {
	var fallback, encoded strings.Builder
	for _, r := range filename {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			fallback.WriteByte('_')
		} else {
			fallback.WriteRune(r)
		}
	}
	for _, b := range []byte(filename) {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0 {
			encoded.WriteByte(b)
		} else {
			fmt.Fprintf(&encoded, "%%%02X", b)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback.String(), encoded.String())
}

// createAttachment stores an upload, then has the ticket's workflow record
// it; the answer comes once the "attachment" event is durable. The file
// never enters workflow history: the Update names only the row's id.
func (s *Server) createAttachment(c *fiber.Ctx) error {
	t := currentTicket(c)
	p := principalOf(c)
	u, err := s.parseUpload(c)
	if err != nil {
		return err
	}
	rid, fe := requestID(c, "att", p.User.ID, t.Number)
	if fe != nil {
		return invalid("the attachment is not valid", *fe)
	}
	if u.internal {
		ok, err := s.seesInternal(p)
		if err != nil {
			return err
		}
		if !ok {
			return forbidden(typeForbidden, "only agents may add internal attachments")
		}
	}
	if t.ArchivedAt != nil {
		return archivedProblem(t.Number)
	}
	sum := sha256.Sum256(u.content)
	ctx := c.UserContext()
	uploader := p.User.ID
	a, created, err := s.store.CreateAttachment(ctx, store.NewAttachment{TicketNumber: t.Number, RequestID: rid,
		Filename: u.filename, ContentType: sniffType(u.content), SHA256: sum[:], Content: u.content,
		Internal: u.internal, UploaderID: &uploader}, s.cfg.MaxAttachmentsPerTicket)
	switch {
	case errors.Is(err, store.ErrAttachmentLimit):
		return &Problem{Type: typeAttachmentLimit, Title: "Attachment limit reached", Status: fiber.StatusConflict,
			Detail: fmt.Sprintf("ticket #%d already has %d attachments, the most it may have (max_attachments_per_ticket)",
				t.Number, s.cfg.MaxAttachmentsPerTicket)}
	case errors.Is(err, store.ErrNotFound):
		return notFound(fmt.Sprintf("ticket %d does not exist", t.Number))
	case err != nil:
		return err
	}
	if !created {
		if a.TicketNumber != t.Number || !bytes.Equal(a.SHA256, sum[:]) || a.Filename != u.filename || a.Internal != u.internal {
			return &Problem{Type: typeIdempotency, Title: "Idempotency key reused", Status: fiber.StatusUnprocessableEntity,
				Detail: "this Idempotency-Key was already used with a different upload; use a new key for a new attachment",
				Errors: []FieldError{{Field: "Idempotency-Key", Detail: "already used with a different request"}}}
		}
		if a.Seq != nil {
			c.Location(attachmentPath(t.Number, a.ID))
			return c.Status(fiber.StatusOK).JSON(toAttachmentJSON(a))
		}
	}
	if err := s.recordAttachment(ctx, t.Number, a, actorOf(p)); err != nil {
		return err
	}
	if a, err = s.store.AttachmentInfo(ctx, t.Number, a.ID); err != nil {
		return err
	}
	c.Location(attachmentPath(t.Number, a.ID))
	return c.Status(fiber.StatusCreated).JSON(toAttachmentJSON(a))
}

// recordAttachment sends the attach Update and waits until its event is
// durable. A refused Update removes the stored row.
func (s *Server) recordAttachment(ctx context.Context, number int64, a store.Attachment, actor workflows.Actor) error {
	uctx, cancel := context.WithTimeout(ctx, s.cfg.UpdateTimeout.D())
	defer cancel()
	req := workflows.AttachRequest{RequestID: a.RequestID, Actor: actor, AttachmentID: a.ID, Internal: a.Internal}
	_, err := s.flows().Update(uctx, number, workflows.UpdateAttach, a.RequestID, req)
	if err == nil {
		return nil
	}
	if attachRefused(err) {
		// No event names the row, so nothing would ever serve it.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer dcancel()
		if derr := s.store.DeleteUnlinkedAttachment(dctx, a.ID); derr != nil {
			s.log.Error("removing a refused attachment failed", "ticket", number, "attachment", a.ID, "err", derr)
		}
	}
	// The shared mapping (api/changes.go): 403/409/422 for a refusal, 409
	// ticket-archived when the workflow has completed, 503 when it did not
	// answer in time (the row is kept: a retry with the same
	// Idempotency-Key finishes it).
	return s.updateProblem(number, err)
}

// attachRefused reports whether the attach Update was refused for good:
// the workflow rejected it, or the ticket was closed for good. A failure
// while recording (an activity error) or a timeout is not.
func attachRefused(err error) bool {
	var archived *workflows.ArchivedError
	var rejected *workflows.RejectedError
	return errors.As(err, &archived) || errors.As(err, &rejected)
}

// listAttachments lists the ticket's recorded attachments the caller may
// see.
func (s *Server) listAttachments(c *fiber.Ctx) error {
	t := currentTicket(c)
	internal, err := s.seesInternal(principalOf(c))
	if err != nil {
		return err
	}
	items, err := s.store.ListAttachments(c.UserContext(), t.Number, internal)
	if err != nil {
		return err
	}
	out := make([]attachmentJSON, len(items))
	for i, a := range items {
		out[i] = toAttachmentJSON(a)
	}
	return c.JSON(fiber.Map{"items": out})
}

// getAttachment sends one attachment's bytes as a download. A missing
// attachment, one of another ticket, one not yet recorded, and an internal
// one asked for by a requester are the same 404.
func (s *Server) getAttachment(c *fiber.Ctx) error {
	t := currentTicket(c)
	internal, err := s.seesInternal(principalOf(c))
	if err != nil {
		return err
	}
	hidden := func() error {
		c.Locals(auditDeniedKey, "attachment not visible")
		return notFound(fmt.Sprintf("ticket %d has no attachment %q", t.Number, c.Params("aid")))
	}
	id, err := strconv.ParseInt(c.Params("aid"), 10, 64)
	if err != nil || id <= 0 {
		return hidden()
	}
	a, err := s.store.LinkedAttachment(c.UserContext(), t.Number, id, internal)
	if isNotFound(err) {
		return hidden()
	}
	if err != nil {
		return err
	}
	ct := a.ContentType
	if activeContent(ct) {
		ct = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, contentDisposition(a.Filename))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; sandbox")
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	c.Set(fiber.HeaderETag, `"`+hex.EncodeToString(a.SHA256)+`"`)
	return c.Status(fiber.StatusOK).Send(a.Content)
}
