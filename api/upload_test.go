package api

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"unsafe"

	"github.com/gofiber/fiber/v2"

	"github.com/helpdesk/helpdesk/internal/config"
)

// partSpans finds each part's bytes where mime/multipart's reader finds
// them, including in framings browsers do not send but the reader accepts.
func TestPartSpansAgreeWithTheMultipartReader(t *testing.T) {
	const b = "XyZ"
	for name, body := range map[string]string{
		"plain":                  "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nhello\r\n--XyZ--\r\n",
		"preamble and two parts": "ignored\r\n--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\none\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ntwo\r\n--XyZ--",
		"bare LF lines":          "--XyZ\nContent-Disposition: form-data; name=\"file\"\n\nline one\nline two\n--XyZ--\n",
		"boundary-like content":  "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZzy\r\n--XyZ-y\r\nend\r\n--XyZ--\r\n",
		"space after delimiter":  "--XyZ  \r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nspaced\r\n--XyZ \r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n\r\n--XyZ--\r\n",
		"no headers":             "--XyZ\r\n\r\nbare\r\n--XyZ--\r\n",
		"empty part":             "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--XyZ--\r\n",
	} {
		spans := partSpans([]byte(body), b)
		mr := multipart.NewReader(strings.NewReader(body), b)
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if err == io.EOF {
				if i != len(spans) {
					t.Errorf("%s: the reader found %d parts, partSpans %d", name, i, len(spans))
				}
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want, _ := io.ReadAll(p)
			if i >= len(spans) || !bytes.Equal(spans[i], want) {
				t.Errorf("%s: part %d is %q, partSpans says %q", name, i, want, spans)
				break
			}
		}
	}
}

// An upload's file is a slice of the body fasthttp read, not a copy; a
// part the reader would decode (quoted-printable) is refused rather than
// stored as its raw bytes.
func TestUploadIsASliceOfTheBody(t *testing.T) {
	addr, _ := serveTest(t, config.Default(), func(s *Server) {
		s.handleWith(fiber.MethodPost, "/test/upload", nil, routeOptions{upload: true}, func(c *fiber.Ctx) error {
			u, err := s.parseUpload(c)
			if err != nil {
				return err
			}
			body := c.Request().Body()
			start := uintptr(unsafe.Pointer(unsafe.SliceData(body)))
			at := uintptr(unsafe.Pointer(unsafe.SliceData(u.content)))
			inside := at >= start && at+uintptr(len(u.content)) <= start+uintptr(len(body))
			return c.SendString(fmt.Sprintf("%d %v", len(u.content), inside))
		})
	})
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	part, _ := w.CreateFormFile("file", "a.bin")
	content := bytes.Repeat([]byte("0123456789"), 200<<10) // 2 MB
	_, _ = part.Write(content)
	_ = w.WriteField("internal", "false")
	_ = w.Close()
	req, _ := http.NewRequest("POST", "http://"+addr+"/test/upload", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer upload-limit")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := fmt.Sprintf("%d true", len(content)); string(got) != want {
		t.Errorf("upload: %d %s, want %q (the file's bytes inside the request body)", res.StatusCode, got, want)
	}

	qp := "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"q.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db\r\n--XyZ--\r\n"
	req, _ = http.NewRequest("POST", "http://"+addr+"/test/upload", strings.NewReader(qp))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=XyZ")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), "Content-Transfer-Encoding") {
		t.Errorf("quoted-printable part: %d %s", res.StatusCode, got)
	}
}
