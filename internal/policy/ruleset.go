package policy

// RuleSet is a list of rules indexed for Decide: the answer is always that
// of Decide over the same list (the first rule that matches, or Ask), but
// only the rules that can match a request's program and key are tried, so
// a thousand rules for other programs or keys cost a few map lookups
// rather than a thousand comparisons on every signature.
type RuleSet struct {
	rules []Rule
	// buckets holds the positions of the rules in rules, in order, under
	// the exact executable and fingerprint they require ("" for a rule
	// that requires none, or whose key is a comment glob).
	buckets map[bucketKey][]int32
}

type bucketKey struct{ exe, fp string }

// NewRuleSet indexes rules; the set keeps its own copy of the list.
func NewRuleSet(rules []Rule) *RuleSet {
	s := &RuleSet{rules: append([]Rule(nil), rules...), buckets: map[bucketKey][]int32{}}
	for i, r := range s.rules {
		k := bucketKey{exe: r.Exe}
		if isFingerprint(r.Key) {
			k.fp = r.Key
		}
		s.buckets[k] = append(s.buckets[k], int32(i))
	}
	return s
}

// Rules returns the rules in their order. The caller must not change them.
func (s *RuleSet) Rules() []Rule { return s.rules }

// Decide returns what Decide(s.Rules(), req) returns.
func (s *RuleSet) Decide(req Request) Decision {
	first := int32(-1)
	try := func(k bucketKey) {
		for _, i := range s.buckets[k] {
			if first >= 0 && i > first {
				return // a rule earlier in the list already matched
			}
			if s.rules[i].Matches(req) {
				first = i
				return
			}
		}
	}
	// A rule that names a program matches only that program, and one that
	// names a fingerprint only that key: these four buckets hold every rule
	// that can match.
	try(bucketKey{})
	try(bucketKey{fp: req.KeyFingerprint})
	if req.Exe != "" {
		try(bucketKey{exe: req.Exe})
		try(bucketKey{exe: req.Exe, fp: req.KeyFingerprint})
	}
	if first < 0 {
		return Decision{Action: Ask}
	}
	return Decision{Action: s.rules[first].Action, Rule: &s.rules[first]}
}
