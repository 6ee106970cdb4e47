package policy

import (
	"strconv"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	rules := []Rule{
		{N: 1, Exe: "/usr/bin/ssh-keygen", Purpose: "file", Action: Allow},
		{N: 2, Key: "work-*", Purpose: "login", Host: "*.github.com", Action: Allow},
		{N: 3, Key: "SHA256:abc", Action: Deny},
		{N: 4, Purpose: "namespace:ci@example.com", Forwarded: true, Action: Allow},
		{N: 5, Exe: "/usr/bin/git", Purpose: "git", Action: Ask},
		{N: 6, Purpose: "login", Host: "[127.0.0.1]:2222", Action: Allow},
	}
	base := Request{KeyFingerprint: "SHA256:zzz", KeyComment: "laptop"}
	with := func(f func(*Request)) Request { r := base; f(&r); return r }
	tests := []struct {
		name string
		req  Request
		want Action
		rule int // 0: default
	}{
		{"keygen file", with(func(r *Request) { r.Exe, r.Purpose = "/usr/bin/ssh-keygen", "file" }), Allow, 1},
		{"keygen copy elsewhere", with(func(r *Request) { r.Exe, r.Purpose = "/tmp/ssh-keygen", "file" }), Ask, 0},
		{"unknown program", with(func(r *Request) { r.Purpose = "file" }), Ask, 0},
		{"keygen git namespace", with(func(r *Request) { r.Exe, r.Purpose = "/usr/bin/ssh-keygen", "git" }), Ask, 0},
		{"keygen forwarded", with(func(r *Request) { r.Exe, r.Purpose, r.Forwarded = "/usr/bin/ssh-keygen", "file", true }), Ask, 0},
		{"login verified host", with(func(r *Request) {
			r.KeyComment, r.Purpose, r.Host = "work-laptop", "login", "api.github.com"
		}), Allow, 2},
		{"login unverified host", with(func(r *Request) { r.KeyComment, r.Purpose = "work-laptop", "login" }), Ask, 0},
		{"login other host", with(func(r *Request) {
			r.KeyComment, r.Purpose, r.Host = "work-laptop", "login", "github.com.evil"
		}), Ask, 0},
		{"login wrong key", with(func(r *Request) { r.Purpose, r.Host = "login", "api.github.com" }), Ask, 0},
		{"denied key", with(func(r *Request) { r.KeyFingerprint = "SHA256:abc" }), Deny, 3},
		{"denied key forwarded is not local rule", with(func(r *Request) { r.KeyFingerprint, r.Forwarded = "SHA256:abc", true }), Ask, 0},
		{"forwarded namespace", with(func(r *Request) { r.Purpose, r.Forwarded = "namespace:ci@example.com", true }), Allow, 4},
		{"forwarded-only rule, local request", with(func(r *Request) { r.Purpose = "namespace:ci@example.com" }), Ask, 0},
		{"port host literally", with(func(r *Request) { r.Purpose, r.Host = "login", "[127.0.0.1]:2222" }), Allow, 6},
		{"port host not a class", with(func(r *Request) { r.Purpose, r.Host = "login", "1:2222" }), Ask, 0},
		{"explicit ask", with(func(r *Request) { r.Exe, r.Purpose = "/usr/bin/git", "git" }), Ask, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(rules, tt.req)
			if d.Action != tt.want {
				t.Errorf("action = %v, want %v", d.Action, tt.want)
			}
			got := 0
			if d.Rule != nil {
				got = d.Rule.N
			}
			if got != tt.rule {
				t.Errorf("decided by rule %d, want %d", got, tt.rule)
			}
		})
	}
}

// TestDecideCredentials: credential requests are matched only by rules that
// name their purpose; signature rules, even catch-alls, never release a
// token, and credential rules never sign.
func TestDecideCredentials(t *testing.T) {
	const reg = "sparse+https://registry.example:8443/index/"
	rules := []Rule{
		{N: 1, Purpose: "cargo-read", Registry: "sparse+https://registry.example:8443/*", Action: Allow},
		{N: 2, Purpose: "cargo-publish", Host: "evil.example", Action: Deny},
		{N: 3, Purpose: "cargo-publish", Exe: "/usr/bin/cargo", Host: "registry.example:*", Action: Allow},
		{N: 4, Purpose: "git-credential", Host: "github.com", Action: Deny},
		{N: 5, Action: Allow}, // every signature, and nothing else
	}
	tests := []struct {
		name string
		req  Request
		want Action
		rule int
	}{
		{"read by registry", Request{Purpose: "cargo-read", Host: "registry.example:8443", Registry: reg}, Allow, 1},
		{"read elsewhere asks", Request{Purpose: "cargo-read", Host: "other.example", Registry: "sparse+https://other.example/"}, Ask, 0},
		{"publish denied by host", Request{Purpose: "cargo-publish", Exe: "/usr/bin/cargo", Host: "evil.example", Registry: "sparse+https://evil.example/"}, Deny, 2},
		{"publish by cargo", Request{Purpose: "cargo-publish", Exe: "/usr/bin/cargo", Host: "registry.example:8443", Registry: reg}, Allow, 3},
		{"publish by another program asks", Request{Purpose: "cargo-publish", Exe: "/tmp/cargo", Host: "registry.example:8443", Registry: reg}, Ask, 0},
		{"publish by an unknown program asks", Request{Purpose: "cargo-publish", Host: "registry.example:8443", Registry: reg}, Ask, 0},
		{"yank: no rule", Request{Purpose: "cargo-yank", Exe: "/usr/bin/cargo", Host: "registry.example:8443", Registry: reg}, Ask, 0},
		{"git denied", Request{Purpose: "git-credential", Host: "github.com"}, Deny, 4},
		{"git elsewhere asks", Request{Purpose: "git-credential", Host: "gitlab.com"}, Ask, 0},
		{"signature by the catch-all", Request{KeyFingerprint: "SHA256:x", Purpose: "login"}, Allow, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(rules, tt.req)
			got := 0
			if d.Rule != nil {
				got = d.Rule.N
			}
			if d.Action != tt.want || got != tt.rule {
				t.Errorf("decided %v by rule %d, want %v by rule %d", d.Action, got, tt.want, tt.rule)
			}
		})
	}
	if got, want := rules[2].String(), "rule 3: allow exe=/usr/bin/cargo purpose=cargo-publish host=registry.example:*"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	// A rule with no purpose covers signatures only, and says so.
	if got, want := (Rule{N: 4, Action: Allow}).String(), "rule 4: allow key=any exe=any purpose=any-signature path=local-only"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		rule Rule
		err  string
	}{
		{Rule{Exe: "/usr/bin/ssh", Purpose: "login", Host: "github.com"}, ""},
		{Rule{Exe: "ssh"}, "absolute"},
		{Rule{Purpose: "sign"}, "purpose"},
		{Rule{Purpose: "namespace:"}, "purpose"},
		{Rule{Host: "github.com"}, "needs purpose"},
		{Rule{Purpose: "login", Host: "[127.0.0.1]:2222"}, ""},
		{Rule{Purpose: "cargo-read", Host: "registry.example:8443", Registry: "sparse+https://*"}, ""},
		{Rule{Purpose: "git-credential", Host: "github.com", Exe: "/usr/lib/git-core/git-remote-http"}, ""},
		{Rule{Purpose: "git-credential", Registry: "sparse+https://*"}, "needs a cargo purpose"},
		{Rule{Purpose: "login", Registry: "x"}, "needs a cargo purpose"},
		{Rule{Purpose: "cargo-publish", Key: "SHA256:x"}, "not a key's signature"},
		{Rule{Purpose: "cargo-yank", Forwarded: true}, "never released to a forwarded agent"},
		{Rule{Purpose: "cargo-fetch"}, "purpose"},
	}
	for _, tt := range tests {
		err := tt.rule.Validate()
		if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.rule, err, tt.err)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"github.com", "github.com", true},
		{"*.github.com", "api.github.com", true},
		{"*.github.com", "github.com", false},
		{"*", "", true},
		{"work-*", "work-laptop", true},
		{"work-?", "work-é", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[127.0.0.1]:*", "[127.0.0.1]:2222", true},
		{"[12]", "1", false},
	}
	for _, tt := range tests {
		if got := globOrEqual(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestPurposeOf(t *testing.T) {
	for ns, want := range map[string]string{"git": "git", "file": "file", "x@y": "namespace:x@y"} {
		if got := PurposeOf(ns); got != want {
			t.Errorf("PurposeOf(%q) = %q, want %q", ns, got, want)
		}
	}
}

// BenchmarkDecide is the rule lookup of one request with 1, 100 and 1000
// rules, the matching one last, as the agent does it (RuleSet).
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		rules := make([]Rule, n)
		for i := range rules {
			rules[i] = Rule{N: i + 1, Exe: "/usr/bin/other" + strconv.Itoa(i), Purpose: "git", Action: Allow}
		}
		rules[n-1].Exe = "/usr/bin/ssh-keygen"
		req := Request{KeyFingerprint: "SHA256:x", KeyComment: "k", Exe: "/usr/bin/ssh-keygen", Purpose: "git"}
		set := NewRuleSet(rules)
		b.Run(strconv.Itoa(n)+"rules", func(b *testing.B) {
			for b.Loop() {
				if set.Decide(req).Action != Allow {
					b.Fatal("no match")
				}
			}
		})
	}
}
