package audit

import (
	"encoding/json"
	"testing"
	"time"
)

// TestCanonicalEncodingIsPinned fails when the bytes under every stored hash
// would change: a new encoding needs a new CanonicalVersion, not an edit.
func TestCanonicalEncodingIsPinned(t *testing.T) {
	e := Entry{
		ID: 99, At: time.Date(2026, 11, 27, 1, 0, 3, 120000, time.FixedZone("CET", 3600)), ActorID: ptr(int64(7)),
		Actor: "ann@example.test", Action: "ticket.read", Object: "ticket:42", Result: ResultAllowed,
		IP: "192.0.2.1", UserAgent: "a \"quoted\"\\ tab\t nl\n bell\a é <&>", RequestID: "r1",
		Detail:   map[string]any{"b": json.Number("1.50"), "a": []any{json.Number("1e3"), false, nil}, "é": map[string]any{"y": "1", "x": json.Number("-0")}},
		PrevHash: []byte{1}, Hash: []byte{2}, // not part of the encoding
	}
	got, err := Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `["helpdesk.audit.v1","2026-11-27T00:00:03.00012Z",7,"ann@example.test","ticket.read","ticket:42","allowed","192.0.2.1",` +
		`"a \"quoted\"\\ tab\t nl\n bell\u0007 é <&>","r1",{"a":[1000,false,null],"b":1.5,"é":{"x":0,"y":"1"}}]`
	if string(got) != want {
		t.Fatalf("canonical =\n%s\nwant\n%s", got, want)
	}
	e.ActorID, e.Detail = nil, nil
	got, err = Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := `["helpdesk.audit.v1","2026-11-27T00:00:03.00012Z",null,`; string(got[:len(want)]) != want || string(got[len(got)-4:]) != `,{}]` {
		t.Fatalf("canonical without actor id and detail = %s", got)
	}
}

func TestNormalizeNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"-0", "0"}, {"-0.000", "0"}, {"0e10", "0"},
		{"42", "42"}, {"-42", "-42"}, {"100", "100"}, {"1.50", "1.5"}, {"1.0", "1"},
		{"1e3", "1000"}, {"1E+3", "1000"}, {"1.25e1", "12.5"}, {"1e-7", "0.0000001"}, {"-1.5e-1", "-0.15"},
		{"1e+21", "1000000000000000000000"}, {"123.456e-5", "0.00123456"}, {"9007199254740993", "9007199254740993"},
		{"0.001", "0.001"}, {"10e-1", "1"},
	} {
		got, err := normalizeNumber(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeNumber(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "NaN", "1e1001", "1e-1001", "1e12345678"} {
		if got, err := normalizeNumber(bad); err == nil {
			t.Errorf("normalizeNumber(%q) = %q, want an error", bad, got)
		}
	}
}

// TestAppendStringMatchesByteByByte holds the run-copying appendString to
// the byte-at-a-time encoding every stored hash was computed with.
func TestAppendStringMatchesByteByByte(t *testing.T) {
	reference := func(s string) string {
		const hex = "0123456789abcdef"
		b := []byte{'"'}
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
		}
		return string(append(b, '"'))
	}
	cases := []string{"", "plain", `"`, `\`, "a\"b\\c", "\x00", "x\x1fy", "\x7f", "é", "\xff\xfe", "tail\n", "\nhead", "\t\t"}
	for c := 0; c < 256; c++ {
		cases = append(cases, string([]byte{byte(c)}), "ab"+string([]byte{byte(c)})+"cd")
	}
	for _, s := range cases {
		if got, want := string(appendString(nil, s)), reference(s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}
