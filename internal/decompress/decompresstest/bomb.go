// Package decompresstest builds hostile compressed bodies for tests and
// benchmarks of code that must not decompress them.
package decompresstest

import (
	"bytes"
	"compress/gzip"
)

// member is how many zeros one inner gzip member holds.
const member = 16 << 20

// NestedGzipBomb is a body for `Content-Encoding: gzip, gzip` that decodes
// to size bytes of zeros (rounded down to 16 MiB). The inner layer is a
// sequence of gzip members (a gzip stream may hold several), which the
// outer layer compresses again: 512 MiB fit in under a kilobyte, built in
// a fraction of a second.
func NestedGzipBomb(size int64) []byte {
	one := gzipBest(make([]byte, member))
	return gzipBest(bytes.Repeat(one, int(size/member)))
}

func gzipBest(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	_, _ = w.Write(b)                                       // a bytes.Buffer does not fail
	_ = w.Close()
	return buf.Bytes()
}
