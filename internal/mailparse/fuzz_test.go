package mailparse

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// maxFuzzSeed bounds the size of a seed. Larger corpus files (the 4 MB
// large-attachment.eml) are seeded with their first maxFuzzSeed bytes plus
// their last 2 KiB: the fuzzer minimizes every new interesting input, and
// minimizing mutations of a multi-megabyte seed takes the whole fuzzing
// budget. The full file is covered by TestCorpus and TestLimits.
const maxFuzzSeed = 8 << 10

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no corpus: %v", err)
	}
	for _, name := range files {
		raw := readCorpus(f, filepath.Base(name))
		if len(raw) > maxFuzzSeed {
			raw = append(bytes.Clone(raw[:maxFuzzSeed]), raw[len(raw)-2048:]...)
		}
		f.Add(raw)
	}
	own := Own{Addresses: []string{"support@helpdesk.local"}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw, Limits{}, own)
		if err != nil {
			var r *Rejection
			if !errors.As(err, &r) {
				t.Fatalf("non-Rejection error %T: %v", err, err)
			}
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		checkInvariants(t, m)
	})
}
