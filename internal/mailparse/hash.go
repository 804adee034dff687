package mailparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// traceHeaders are added or changed per delivery and are ignored by
// ContentHash. Names are lower-case; "arc-" covers all ARC headers.
var traceHeaders = map[string]bool{
	"received":                true,
	"x-received":              true,
	"return-path":             true,
	"delivered-to":            true,
	"x-original-to":           true,
	"dkim-signature":          true,
	"x-google-dkim-signature": true,
	"authentication-results":  true,
	"received-spf":            true,
}

func isTraceHeader(name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	return traceHeaders[name] || strings.HasPrefix(name, "arc-")
}

// contentHash hashes raw without trace header fields (including their
// continuation lines), with "\r\n" and "\r" line endings normalized to "\n".
func contentHash(raw []byte) string {
	h := sha256.New()
	nl := []byte{'\n'}
	inHeader, skipping := true, false
	for rest := raw; len(rest) > 0; {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if inHeader {
			switch {
			case len(line) == 0:
				inHeader = false
			case line[0] == ' ' || line[0] == '\t':
				if skipping {
					continue
				}
			default:
				name, _, _ := bytes.Cut(line, []byte{':'})
				skipping = isTraceHeader(string(name))
				if skipping {
					continue
				}
			}
		}
		// Bare CRs inside a line are normalized too.
		if bytes.IndexByte(line, '\r') >= 0 {
			line = bytes.ReplaceAll(line, []byte{'\r'}, nl)
		}
		h.Write(line)
		h.Write(nl)
	}
	return hex.EncodeToString(h.Sum(nil))
}
