package audit

import (
	"context"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCapStringCutsLongStringsAtCharacterBoundariesAndSaysSo(t *testing.T) {
	mib := strings.Repeat("é", 1<<19) // 1 MiB of two-byte characters
	cases := []struct {
		name, in string
		cut      bool
	}{
		{"short", "ann@example.com", false},
		{"exactly the limit", strings.Repeat("a", MaxStringBytes), false},
		{"one byte over", strings.Repeat("a", MaxStringBytes+1), true},
		{"a megabyte of two-byte characters", mib, true},
		{"a megabyte of invalid UTF-8", strings.Repeat("\xff", 1<<20), true},
		{"NUL bytes", "a\x00b", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := capString(c.in)
			if len(got) > MaxStringBytes || !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
				t.Fatalf("capString = %d bytes %q: want valid UTF-8 without NUL within %d bytes", len(got), got, MaxStringBytes)
			}
			mark := fmt.Sprintf(cutMark, len(c.in))
			if c.cut != strings.HasSuffix(got, mark) {
				t.Fatalf("capString = %q: cut mark %q present = %v, want %v", got, mark, !c.cut, c.cut)
			}
			if c.cut && !strings.HasPrefix(c.in, strings.TrimSuffix(got, mark)) && utf8.ValidString(c.in) {
				t.Errorf("kept part of %q is not a prefix of the input", got)
			}
			if capString(got) != got {
				t.Errorf("capping twice changes %q", got)
			}
		})
	}
}

// An entry made of megabyte strings an outsider chose is stored with every
// string capped and marked, hashes like any other, and reads back equal.
func TestAppendCapsEveryOutsiderString(t *testing.T) {
	l := New(newDB(t).pool)
	w := l.NewWriter()
	defer w.Close()
	big := "mallory" + strings.Repeat("x", 1<<20)
	e := Entry{Actor: big + "@example.com", Action: "auth.login", Object: "user:" + big, Result: ResultDenied,
		IP: big, UserAgent: big, RequestID: big,
		Detail: map[string]any{"path": "/" + big, big: "key too", "nested": map[string]any{"list": []any{big, 1}, "strings": []string{big}}}}
	for name, appendFn := range map[string]func(context.Context, Entry) (Entry, error){"Log.Append": l.Append, "Writer.Append": w.Append} {
		got, err := appendFn(context.Background(), e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var long []string
		walkStrings(got, func(where, s string) {
			if len(s) > MaxStringBytes {
				long = append(long, fmt.Sprintf("%s (%d bytes)", where, len(s)))
			}
		})
		if len(long) > 0 {
			t.Errorf("%s stored strings over %d bytes: %v", name, MaxStringBytes, long)
		}
		cut := 0
		walkStrings(got, func(where, s string) {
			if cutRE.MatchString(s) {
				cut++
			}
		})
		if cut != 9 { // actor, object, ip, user agent, request id, path, the long key, list[0], strings[0]
			t.Errorf("%s: %d strings marked as cut with their megabyte length, want 9", name, cut)
		}
		found, _, err := l.Find(context.Background(), Query{Limit: 1})
		if err != nil || len(found) != 1 || !reflect.DeepEqual(found[0], got) {
			t.Fatalf("%s: read back %+v (%v), want %+v", name, found, err, got)
		}
	}
	if res := mustVerify(t, l); res != (VerifyResult{Rows: 2, OK: true}) {
		t.Fatalf("verify = %+v", res)
	}
}

var cutRE = regexp.MustCompile(`…\[cut: \d{7} bytes\]$`)

// walkStrings calls f with every string of e, detail keys and values
// included.
func walkStrings(e Entry, f func(where, s string)) {
	for name, s := range map[string]string{"actor": e.Actor, "action": e.Action, "object": e.Object, "result": e.Result,
		"ip": e.IP, "user_agent": e.UserAgent, "request_id": e.RequestID} {
		f(name, s)
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case string:
			f(where, v)
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), x)
			}
		case map[string]any:
			for k, x := range v {
				f(where+" key", k)
				walk(where+"."+k[:min(len(k), 10)], x)
			}
		}
	}
	walk("detail", e.Detail)
}

// MapStrings reaches every string an entry holds — what the API relies on
// to copy a queued entry out of Fiber's reused buffers — and leaves the
// caller's detail as it was.
func TestMapStringsReachesEveryStringAndCopies(t *testing.T) {
	detail := map[string]any{"path": "/a", "list": []any{"x", 1}, "names": []string{"n"},
		"nested": map[string]any{"k": "v"}, "flat": map[string]string{"fk": "fv"}, "n": 3}
	e := Entry{Actor: "a", Action: "b", Object: "c", Result: "d", IP: "e", UserAgent: "f", RequestID: "g", Detail: detail}
	got := e.MapStrings(strings.ToUpper)
	want := Entry{Actor: "A", Action: "B", Object: "C", Result: "D", IP: "E", UserAgent: "F", RequestID: "G",
		Detail: map[string]any{"PATH": "/A", "LIST": []any{"X", 1}, "NAMES": []string{"N"},
			"NESTED": map[string]any{"K": "V"}, "FLAT": map[string]string{"FK": "FV"}, "N": 3}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MapStrings = %+v\nwant %+v", got, want)
	}
	if detail["path"] != "/a" || detail["list"].([]any)[0] != "x" || detail["nested"].(map[string]any)["k"] != "v" {
		t.Errorf("the caller's detail changed: %+v", detail)
	}
}
