package policy

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// The index never changes an answer: over random rule lists and requests
// drawn from a small vocabulary (so that rules and requests often meet),
// RuleSet.Decide picks the very rule Decide picks.
func TestRuleSetDecidesAsDecide(t *testing.T) {
	pick := func(r *rand.Rand, from ...string) string { return from[r.IntN(len(from))] }
	keys := []string{"", "SHA256:a", "SHA256:b", "work-*", "home", "*"}
	exes := []string{"", "/usr/bin/ssh", "/usr/bin/git", "/usr/bin/ssh-keygen"}
	purposes := []string{"", PurposeAny, PurposeLogin, PurposeGit, PurposeFile, "namespace:x", "cargo-read"}
	hosts := []string{"", "github.com", "*.example.com"}
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 1))
		rules := make([]Rule, r.IntN(40))
		for i := range rules {
			rules[i] = Rule{N: i + 1, Key: pick(r, keys...), Exe: pick(r, exes...), Purpose: pick(r, purposes...),
				Host: pick(r, hosts...), Forwarded: r.IntN(4) == 0, Action: Action(r.IntN(3))}
		}
		set := NewRuleSet(rules)
		for range 200 {
			req := Request{KeyFingerprint: pick(r, "SHA256:a", "SHA256:b", "SHA256:c"),
				KeyComment: pick(r, "work-laptop", "home", ""), Exe: pick(r, exes...),
				Purpose: pick(r, PurposeLogin, PurposeGit, PurposeFile, "namespace:x", PurposeUnknown, "cargo-read"),
				Host:    pick(r, "", "github.com", "a.example.com"), Forwarded: r.IntN(4) == 0}
			want, got := Decide(rules, req), set.Decide(req)
			if want.Action != got.Action || (want.Rule == nil) != (got.Rule == nil) ||
				want.Rule != nil && want.Rule.N != got.Rule.N || want.Text != got.Text {
				t.Fatalf("seed %d: %+v\nDecide = %v rule %v, RuleSet.Decide = %v rule %v",
					seed, req, want.Action, ruleN(want), got.Action, ruleN(got))
			}
		}
	}
}

func ruleN(d Decision) string {
	if d.Rule == nil {
		return "none"
	}
	return strconv.Itoa(d.Rule.N)
}
