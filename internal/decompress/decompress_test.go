package decompress

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/helpdesk/helpdesk/internal/decompress/decompresstest"
)

func TestNestedGzipBombStopsAtTheCap(t *testing.T) {
	bomb := decompresstest.NestedGzipBomb(512 << 20)
	if len(bomb) > 2048 {
		t.Fatalf("the bomb is %d bytes; the attack sends about 1.4 KB", len(bomb))
	}
	codings, err := Codings("gzip, gzip")
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20
	r, err := NewReader(bytes.NewReader(bomb), codings, limit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.Copy(io.Discard, r)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decoding a 512 MiB bomb with a 1 MiB cap: %d bytes, err %v", got, err)
	}
	if got > limit {
		t.Errorf("%d bytes came out, more than the %d-byte cap", got, limit)
	}
}

// The cap counts what every layer produces, not only the last one: an
// inner layer that expands a lot is refused even when the outer output
// would fit.
func TestCapCountsEveryLayer(t *testing.T) {
	random := make([]byte, 700<<10) // incompressible: the inner layer is as large as the output
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	body := gzipped(t, gzipped(t, random))
	r, err := NewReader(bytes.NewReader(body), []string{"gzip", "gzip"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("two layers producing 1.4 MiB together under a 1 MiB cap: %v", err)
	}
	r, err = NewReader(bytes.NewReader(body), []string{"gzip", "gzip"}, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(out, random) {
		t.Errorf("within a 2 MiB cap: %d bytes, %v", len(out), err)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestEachCodingRoundTrips(t *testing.T) {
	text := bytes.Repeat([]byte("a help desk ticket "), 1000)
	var z, br bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(text)
	zw.Close()
	bw := brotli.NewWriter(&br)
	bw.Write(text)
	bw.Close()
	for _, c := range []struct {
		header string
		body   []byte
	}{
		{"gzip", gzipped(t, text)},
		{"x-gzip", gzipped(t, text)},
		{"deflate", z.Bytes()},
		{"br", br.Bytes()},
		{"identity, gzip", gzipped(t, text)},
	} {
		codings, err := Codings(c.header)
		if err != nil {
			t.Fatalf("%s: %v", c.header, err)
		}
		r, err := NewReader(bytes.NewReader(c.body), codings, int64(len(text)))
		if err != nil {
			t.Fatalf("%s: %v", c.header, err)
		}
		out, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(out, text) {
			t.Errorf("%s: %d bytes, %v", c.header, len(out), err)
		}
	}
	// Exactly at the cap is fine, one byte less is not.
	r, _ := NewReader(bytes.NewReader(gzipped(t, text)), []string{"gzip"}, int64(len(text))-1)
	if _, err := io.ReadAll(r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over the cap: %v", err)
	}
}

func TestCodingsRefusesUnknownAndDeepStacks(t *testing.T) {
	for _, h := range []string{"compress", "zstd", "gzip, gzip, gzip", "gzip;q=1"} {
		if _, err := Codings(h); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Codings(%q) = %v, want ErrUnsupported", h, err)
		}
	}
	if c, err := Codings("", "identity"); err != nil || len(c) != 0 {
		t.Errorf("identity: %v %v", c, err)
	}
	if c, err := Codings("GZIP", " br "); err != nil || len(c) != 2 || c[0] != "gzip" || c[1] != "br" {
		t.Errorf("two headers: %v %v", c, err)
	}
}
