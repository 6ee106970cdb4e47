package policy

// RuleSet is a list of rules indexed for Decide: the answer is always that
// of Decide over the same list (the first rule that matches, or Ask), but
// only the rules that can match a request's program and key are tried, so
// a thousand rules for other programs or keys cost a few map lookups
// rather than a thousand comparisons on every signature.
type RuleSet struct {
	rules []Rule
	texts []string // rules[i].String()
	// buckets holds the positions of the rules in rules, in order, under
	// the exact executable and fingerprint they require ("" for a rule
	// that requires none, or whose key is a comment glob).
	buckets map[bucketKey][]int32
}

type bucketKey struct{ exe, fp string }

// NewRuleSet indexes rules; the set keeps its own copy of the list.
func NewRuleSet(rules []Rule) *RuleSet {
	s := &RuleSet{rules: append([]Rule(nil), rules...), texts: make([]string, len(rules)), buckets: map[bucketKey][]int32{}}
	for i, r := range s.rules {
		s.texts[i] = r.String()
		k := bucketKey{exe: r.Exe}
		if isFingerprint(r.Key) {
			k.fp = r.Key
		}
		s.buckets[k] = append(s.buckets[k], int32(i))
	}
	return s
}

// Decide returns what Decide returns over the rules the set was made from.
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
	return Decision{Action: s.rules[first].Action, Rule: &s.rules[first], Text: s.texts[first]}
}
