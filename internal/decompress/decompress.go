// Package decompress undoes a request body's Content-Encoding with a cap on
// the bytes it produces, counted across every layer, so a small body that
// expands by orders of magnitude (a "zip bomb", possibly nested) is
// refused after at most the cap has been produced.
package decompress

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
)

// MaxLayers is the most codings one body may stack.
const MaxLayers = 2

var (
	// ErrTooLarge: the layers together produced more than the cap.
	ErrTooLarge = errors.New("decompress: decoded body exceeds the limit")
	// ErrUnsupported: a coding this package does not decode, or too many.
	ErrUnsupported = errors.New("decompress: unsupported content coding")
)

// Codings parses a Content-Encoding header's values into the codings in
// the order they were applied; "identity" and empty entries are dropped.
// Names are gzip (or x-gzip), deflate and br.
func Codings(values ...string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch c {
			case "", "identity":
			case "gzip", "x-gzip", "deflate", "br":
				out = append(out, c)
			default:
				return nil, fmt.Errorf("%w: %q", ErrUnsupported, c)
			}
		}
	}
	if len(out) > MaxLayers {
		return nil, fmt.Errorf("%w: %d codings stacked, at most %d", ErrUnsupported, len(out), MaxLayers)
	}
	return out, nil
}

// NewReader decodes r, which had codings applied in order (as Codings
// returns them), and fails with ErrTooLarge once the layers together have
// produced more than limit bytes: the bytes each layer hands to the next
// count as well as the ones it hands to the caller.
func NewReader(r io.Reader, codings []string, limit int64) (io.Reader, error) {
	if len(codings) > MaxLayers {
		return nil, fmt.Errorf("%w: %d codings stacked, at most %d", ErrUnsupported, len(codings), MaxLayers)
	}
	b := &budget{left: limit}
	for i := len(codings) - 1; i >= 0; i-- {
		var err error
		switch codings[i] {
		case "gzip", "x-gzip":
			var zr *gzip.Reader
			zr, err = gzip.NewReader(r)
			r = zr
		case "deflate": // HTTP's deflate is the zlib format (RFC 9110 §8.4.1.2)
			r, err = zlib.NewReader(r)
		case "br":
			r = brotli.NewReader(r)
		default:
			return nil, fmt.Errorf("%w: %q", ErrUnsupported, codings[i])
		}
		if err != nil {
			return nil, fmt.Errorf("decompress: %s: %w", codings[i], err)
		}
		r = &counted{r: r, b: b}
	}
	return r, nil
}

// budget is what all layers of one body may still produce.
type budget struct{ left int64 }

// counted charges what a layer produces to the shared budget. It never
// asks its layer for more than the budget allows (plus one byte, to tell
// "exactly at the limit" from "over it"), so a layer cannot overshoot.
type counted struct {
	r io.Reader
	b *budget
}

func (c *counted) Read(p []byte) (int, error) {
	if c.b.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > c.b.left+1 {
		p = p[:c.b.left+1]
	}
	n, err := c.r.Read(p)
	c.b.left -= int64(n)
	if c.b.left < 0 {
		return n, ErrTooLarge
	}
	return n, err
}
