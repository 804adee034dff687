package identity

import (
	"golang.org/x/crypto/argon2"
	"testing"
	"time"
)

func TestScratchArgon(t *testing.T) {
	for _, c := range []struct {
		m, tt uint32
		p     uint8
	}{{65536, 2, 2}, {65536, 1, 2}, {32768, 2, 2}, {47104, 1, 1}, {19456, 2, 1}, {32768, 1, 2}} {
		argon2.IDKey([]byte("x"), []byte("saltsaltsaltsalt"), c.tt, c.m, c.p, 32)
		start := time.Now()
		for i := 0; i < 10; i++ {
			argon2.IDKey([]byte("correct horse"), []byte("saltsaltsaltsalt"), c.tt, c.m, c.p, 32)
		}
		t.Logf("m=%d t=%d p=%d: %v", c.m, c.tt, c.p, time.Since(start)/10)
	}
}
