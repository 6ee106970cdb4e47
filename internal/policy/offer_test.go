package policy

import "testing"

// TestOfferedWhy: the reason names the pattern, and the host only when a
// glob matched it (not "lists github.com for github.com").
func TestOfferedWhy(t *testing.T) {
	offers := []Offer{{N: 1, Hosts: []string{"github.com", "*.corp.example"}}, {Hosts: []string{"gitlab.com"}}}
	for host, want := range map[string]string{
		"github.com":         "offer 1 lists github.com",
		"build.corp.example": "offer 1 lists *.corp.example, which matches build.corp.example",
		"gitlab.com":         "the key's hosts (vigil key hosts) list gitlab.com",
	} {
		if _, why := Offered(offers, false, OfferRequest{KeyComment: "k", Host: host}); why != want {
			t.Errorf("Offered to %s: why %q, want %q", host, why, want)
		}
	}
}

func TestOffered(t *testing.T) {
	offers := []Offer{
		{N: 1, Key: "work-*", Hosts: []string{"github.com", "*.corp.example"}},
		{N: 2, Key: "SHA256:personal", Hosts: []string{"[127.0.0.1]:2222"}},
	}
	tests := []struct {
		name        string
		defaultNone bool
		req         OfferRequest
		want        bool
	}{
		{"work key to github", false, OfferRequest{KeyComment: "work-laptop", Host: "github.com"}, true},
		{"work key to corp", false, OfferRequest{KeyComment: "work-laptop", Host: "build.corp.example"}, true},
		{"work key elsewhere", false, OfferRequest{KeyComment: "work-laptop", Host: "gitlab.com"}, false},
		{"work key to unverified host", false, OfferRequest{KeyComment: "work-laptop"}, false},
		{"personal key by fingerprint", false, OfferRequest{KeyFingerprint: "SHA256:personal", Host: "[127.0.0.1]:2222"}, true},
		{"personal key to another port", false, OfferRequest{KeyFingerprint: "SHA256:personal", Host: "[127.0.0.1]:2200"}, false},
		{"unnamed key, default all", false, OfferRequest{KeyComment: "other", Host: "gitlab.com"}, true},
		{"unnamed key, default all, unverified", false, OfferRequest{KeyComment: "other"}, true},
		{"unnamed key, default none", true, OfferRequest{KeyComment: "other", Host: "gitlab.com"}, false},
		{"named key, default none", true, OfferRequest{KeyComment: "work-x", Host: "github.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := Offered(offers, tt.defaultNone, tt.req)
			if got != tt.want || why == "" {
				t.Errorf("Offered = %v (%s), want %v", got, why, tt.want)
			}
		})
	}
}
