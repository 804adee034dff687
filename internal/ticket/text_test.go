package ticket

import "testing"

func TestCutsAtCharacterBoundaries(t *testing.T) {
	for _, c := range []struct {
		in    string
		n     int
		bytes string
		runes string
	}{
		{"hello", 10, "hello", "hello"},
		{"hello", 3, "hel", "hel"},
		{"héllo", 2, "h", "hé"}, // é is 2 bytes: not split
		{"日本語", 4, "日", "日本語"},  // 3 bytes each
		{"日本語", 0, "", ""},
	} {
		if got := CutBytes(c.in, c.n); got != c.bytes {
			t.Errorf("CutBytes(%q, %d) = %q, want %q", c.in, c.n, got, c.bytes)
		}
		if got := CutRunes(c.in, c.n); got != c.runes {
			t.Errorf("CutRunes(%q, %d) = %q, want %q", c.in, c.n, got, c.runes)
		}
	}
}
