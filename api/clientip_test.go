package api

import (
	"net/netip"
	"testing"

	"github.com/helpdesk/helpdesk/internal/config"
)

func TestClientAddr(t *testing.T) {
	trusted, err := config.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	proxy := netip.MustParseAddr("10.1.2.3")
	for _, tc := range []struct {
		name    string
		peer    netip.Addr
		header  string
		values  []string
		trusted []netip.Prefix
		want    string
	}{
		{"no trusted proxies: header ignored", proxy, "X-Forwarded-For", []string{"203.0.113.9"}, nil, "10.1.2.3"},
		{"untrusted peer: its spoofed header ignored", netip.MustParseAddr("198.51.100.7"), "X-Forwarded-For", []string{"203.0.113.9"}, trusted, "198.51.100.7"},
		{"one trusted proxy", proxy, "X-Forwarded-For", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		// The client wrote 1.2.3.4 itself; the proxy appended the address
		// it saw. The right-most untrusted hop wins.
		{"client-made entries left of the real one", proxy, "X-Forwarded-For", []string{"1.2.3.4, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"chain of trusted proxies", proxy, "X-Forwarded-For", []string{"203.0.113.9, 10.9.9.9", "192.0.2.1"}, trusted, "203.0.113.9"},
		{"every hop trusted: left-most", proxy, "X-Forwarded-For", []string{"10.5.5.5, 10.6.6.6"}, trusted, "10.5.5.5"},
		{"no header from a trusted proxy", proxy, "X-Forwarded-For", nil, trusted, "10.1.2.3"},
		{"garbage stops at the last trusted hop", proxy, "X-Forwarded-For", []string{"203.0.113.9, not-an-ip, 10.7.7.7"}, trusted, "10.7.7.7"},
		{"ports and brackets", proxy, "X-Forwarded-For", []string{"[2001:db8::5]:4711"}, trusted, "2001:db8::5"},
		{"IPv4-mapped peer", netip.MustParseAddr("::ffff:10.1.2.3"), "X-Forwarded-For", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"X-Real-IP", proxy, "X-Real-IP", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"Forwarded", proxy, "Forwarded", []string{`for=1.2.3.4, for="[2001:db8::7]:80";proto=https, for=10.3.3.3;by=10.0.0.1`}, trusted, "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var values [][]byte
			for _, v := range tc.values {
				values = append(values, []byte(v))
			}
			if got := clientAddr(tc.peer, values, tc.header, tc.trusted); got.String() != tc.want {
				t.Errorf("client address %s, want %s", got, tc.want)
			}
		})
	}
}
