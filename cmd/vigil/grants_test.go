package main

import "testing"

func TestGrantID(t *testing.T) {
	for s, want := range map[string]bool{
		"all": true, "3": true, "cargo-read-1": true, "git-credential-12": true,
		"abc": false, "": false, "cargo-read-": false, "-1x": false, "Cargo-read-1": false, "../x-1x": false,
	} {
		if got := grantID(s); got != want {
			t.Errorf("grantID(%q) = %v, want %v", s, got, want)
		}
	}
}
