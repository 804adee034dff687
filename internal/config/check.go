package config

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Check loads a configuration exactly as every helpdesk command does (the
// defaults, then the file at path when it is not empty, then the HELPDESK_*
// variables in env) and, when it is valid, writes the values in effect to
// w as YAML with secrets redacted. Otherwise it writes nothing and returns
// the error, which names the option (an *OptionError for a bad value).
// `helpdesk config check` is this, so an operator can test a file before
// deploying it.
func Check(path string, env []string, w io.Writer) error {
	cfg, err := Load(path, env)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := doc.Encode(cfg); err != nil {
		return fmt.Errorf("config: encode: %w", err)
	}
	redact(&doc)
	source := "defaults only (no file)"
	if path != "" {
		source = "defaults, then " + path
	}
	var set []string
	for _, o := range envOptions() {
		if slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, EnvName(o.key)+"=") }) {
			set = append(set, EnvName(o.key))
		}
	}
	if len(set) > 0 {
		source += ", then the environment (" + strings.Join(set, ", ") + ")"
	}
	doc.HeadComment = "helpdesk configuration in effect: " + source + ".\nSecrets are shown as " + redacted + "."
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("config: write: %w", err)
	}
	return enc.Close()
}

// redacted stands for a secret's value in Check's output; URLs keep their
// shape with the password as "xxxxx" (url.URL.Redacted).
const redacted = "<redacted>"

// secretKey reports whether an option (or a mailbox field) holds a secret,
// by its name, so that an option added later is redacted when its name
// says what it is: passwords, tokens, secrets and keys.
func secretKey(key string) bool {
	key = strings.ToLower(key)
	for _, word := range []string{"password", "secret", "token"} {
		if strings.Contains(key, word) {
			return true
		}
	}
	return key == "key" || strings.HasSuffix(key, "_key")
}

// redact replaces, in an encoded configuration, the values of secret keys
// and the passwords inside connection strings.
func redact(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redact(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if secretKey(k.Value) && v.Kind == yaml.ScalarNode {
				if v.Value != "" {
					v.SetString(redacted)
				}
				continue
			}
			redact(v)
		}
	case yaml.ScalarNode:
		if n.Tag == "!!str" {
			if s := redactConnString(n.Value); s != n.Value {
				n.SetString(s)
			}
		}
	}
}

// dsnPassword finds a password in a key=value connection string
// ("host=db password=s3cret") or a URL query (…?password=s3cret).
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)

// redactConnString hides the password of a URL's user info, and any
// password=… parameter, in s.
func redactConnString(s string) string {
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if _, has := u.User.Password(); has {
				s = u.Redacted()
			}
		}
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}
