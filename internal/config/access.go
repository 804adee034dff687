package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// BootstrapTokenSample is the bootstrap_token value the README shows as an
// example. Everyone can read it, so it is refused like a short token.
const BootstrapTokenSample = "change-me-to-a-long-random-secret"

// MinBootstrapTokenLen is the shortest bootstrap_token accepted (it was 24
// before issue 18).
const MinBootstrapTokenLen = 32

// ParseTrustedProxies parses trusted_proxies entries: CIDR prefixes
// ("10.0.0.0/8", "fd00::/8") or single addresses ("192.0.2.7"). IPv4-mapped
// IPv6 forms are unmapped so they match plain IPv4 peers.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(entries))
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix (like 10.0.0.0/8)", e)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// splitList splits a comma-separated environment value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// validateAccess checks the bootstrap token, the client address options
// and the sign-in throttle.
func (c Config) validateAccess() error {
	switch {
	case c.BootstrapToken == "":
	case c.BootstrapToken == BootstrapTokenSample:
		return &OptionError{Option: "bootstrap_token", Reason: "is the README's sample value, which everyone can read; " +
			"choose a random secret, e.g. `openssl rand -base64 32`"}
	case len(c.BootstrapToken) < MinBootstrapTokenLen:
		return &OptionError{Option: "bootstrap_token", Reason: fmt.Sprintf("must be at least %d characters (the minimum was 24 before; "+
			"see the README's upgrade notes), got %d", MinBootstrapTokenLen, len(c.BootstrapToken))}
	}
	if _, err := ParseTrustedProxies(c.TrustedProxies); err != nil {
		return &OptionError{Option: "trusted_proxies", Reason: err.Error()}
	}
	if c.ClientIPHeader == "" || strings.IndexFunc(c.ClientIPHeader, func(r rune) bool {
		return !(r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) >= 0 {
		return &OptionError{Option: "client_ip_header", Reason: fmt.Sprintf("must be a header name such as X-Forwarded-For, X-Real-IP or Forwarded, got %q", c.ClientIPHeader)}
	}
	if c.LoginThrottleWindow.D() < time.Minute {
		return &OptionError{Option: "login_throttle_window", Reason: "must be at least 1m"}
	}
	if c.LoginMaxFailuresPerAccount < 1 {
		return &OptionError{Option: "login_max_failures_per_account", Reason: fmt.Sprintf("must be at least 1, got %d", c.LoginMaxFailuresPerAccount)}
	}
	if c.LoginMaxFailuresPerAddress <= c.LoginMaxFailuresPerAccount {
		return &OptionError{Option: "login_max_failures_per_address", Reason: fmt.Sprintf(
			"must be more than login_max_failures_per_account (%d), so that one locked account does not lock out everyone behind the same address, got %d",
			c.LoginMaxFailuresPerAccount, c.LoginMaxFailuresPerAddress)}
	}
	return nil
}
