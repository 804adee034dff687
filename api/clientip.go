package api

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the address of the client that sent the request, the one
// every caller records or throttles by (sign-in throttling, sessions, the
// audit log). Without trusted_proxies it is the peer address and no
// header is looked at, so a client cannot choose its own address. With
// them, a request whose peer is a trusted proxy is attributed by the
// proxy's client_ip_header (see clientAddr).
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return "" // not an IP peer: unknown, and not counted per address
	}
	if len(s.trustedProxies) == 0 {
		return peer.Unmap().String()
	}
	return clientAddr(peer, c.Request().Header.PeekAll(s.cfg.ClientIPHeader), s.cfg.ClientIPHeader, s.trustedProxies).String()
}

// clientAddr decides the client's address from the peer address and the
// values of a forwarding header (X-Forwarded-For style "client, proxy1,
// proxy2" lists, or RFC 7239 Forwarded "for=" elements when header is
// Forwarded), in the order received, given the trusted proxy prefixes.
//
// Every proxy appends the address it received the request from, so only
// the right end of the list is written by proxies we trust; anything left
// of the first untrusted hop may have been made up by the client. The
// answer is therefore the right-most hop that is not a trusted proxy,
// walking from the peer leftwards through trusted proxies only. When every
// hop is trusted, the left-most is the client. An entry that is not an
// address stops the walk at the last trusted hop before it.
func clientAddr(peer netip.Addr, values [][]byte, header string, trusted []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	forwarded := strings.EqualFold(header, "Forwarded")
	for _, v := range values {
		for _, part := range strings.Split(string(v), ",") {
			if forwarded {
				part = forwardedFor(part)
			}
			hops = append(hops, strings.TrimSpace(part))
		}
	}
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return addr
		}
		addr = hop
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the for= parameter of one RFC 7239 element
// ("for=192.0.2.60;proto=http;by=203.0.113.43"), "" when it has none.
func forwardedFor(element string) string {
	for _, pair := range strings.Split(element, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// parseHop parses one hop: an address, optionally with a port
// ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
