package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-agent/vigil/internal/policy"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, text string
		want       Config
		err        string
		quiet      bool // notify = false: the only way want.Notify is false
	}{
		{name: "empty", text: ""},
		{name: "all", text: "socket = \"/tmp/a.sock\"\napprover = \"/usr/bin/ssh-askpass\"\nprompt_timeout = \"30s\"\nlifetime = \"1h\"\n",
			want: Config{Socket: "/tmp/a.sock", Askpass: "/usr/bin/ssh-askpass", PromptTimeout: 30 * time.Second, Lifetime: time.Hour}},
		{name: "unknown key", text: "prompt_timout = \"30s\"", err: "line 1: unknown key prompt_timout"},
		{name: "unknown keys", text: "[unlock]\nidle = \"1m\"\n[[offer]]\nhosts = [\"x\"]\n\nprompt_timeout = \"1s\"\n",
			err: "line 2: unknown key unlock.idle; line 6: unknown key offer.prompt_timeout"},
		{name: "unknown key in the second rule", text: "[[rule]]\naction = \"allow\"\n[[rule]]\naction = \"deny\"\nprogram = \"x\"\n",
			err: "line 5: unknown key rule.program"},
		{name: "string for an integer", text: "\ngrant_uses = \"2\"\n", err: "line 2: grant_uses: want an integer, not a string"},
		{name: "string for a boolean", text: "notify = \"yes\"\n", err: "line 1: notify: want true or false, not a string"},
		{name: "integer for a duration", text: "lifetime = 5\n", err: `line 1: lifetime: want a duration in quotes, such as "10m", not an integer`},
		{name: "string for a table", text: "unlock = \"x\"\n", err: "line 1: unlock: want a table, not a string"},
		{name: "wrong type in a table", text: "[unlock]\nmax_signatures = true\n", err: "line 2: unlock.max_signatures: want an integer, not true or false"},
		{name: "integer in a list of strings", text: "[[offer]]\nhosts = [\"x\"]\n[[offer]]\nhosts = [\"y\", 1]\n", err: "line 4: offer.hosts: want a list of strings, not a list holding an integer"},
		{name: "bad duration names its key", text: "[unlock]\nidle_timeout = \"soon\"\n", err: `line 2: unlock.idle_timeout: "soon" is not a duration`},
		{name: "bad duration", text: "prompt_timeout = \"soon\"", err: "not a duration"},
		{name: "negative", text: "lifetime = \"-1s\"", err: "negative"},
		{name: "too short", text: "prompt_timeout = \"10ms\"", err: "too short"},
		{name: "wrong type", text: "prompt_timeout = 30", err: "line 1"},
		{name: "syntax", text: "\n\nsocket = ", err: "line 3"},
		{name: "rules", text: "[[rule]]\nexe = \"/usr/bin/ssh-keygen\"\npurpose = \"file\"\naction = \"allow\"\n[[rule]]\nkey = \"SHA256:x\"\naction = \"deny\"\nforwarded = true\n",
			want: Config{Rules: []policy.Rule{
				{N: 1, Exe: "/usr/bin/ssh-keygen", Purpose: "file", Action: policy.Allow},
				{N: 2, Key: "SHA256:x", Forwarded: true, Action: policy.Deny},
			}}},
		{name: "credential rules", text: "[[rule]]\npurpose = \"cargo-read\"\nregistry = \"sparse+https://r.example/*\"\naction = \"allow\"\n[[rule]]\npurpose = \"git-credential\"\nhost = \"github.com\"\naction = \"deny\"\n",
			want: Config{Rules: []policy.Rule{
				{N: 1, Purpose: "cargo-read", Registry: "sparse+https://r.example/*", Action: policy.Allow},
				{N: 2, Purpose: "git-credential", Host: "github.com", Action: policy.Deny},
			}}},
		{name: "credential rule with a key", text: "[[rule]]\npurpose = \"cargo-publish\"\nkey = \"SHA256:x\"\naction = \"allow\"\n", err: "rule 1: key"},
		{name: "audit", text: "audit_dir = \"/var/tmp/a\"\non_audit_failure = \"continue\"\n", want: Config{AuditDir: "/var/tmp/a", OnAuditFailure: "continue"}},
		{name: "bad audit failure", text: "on_audit_failure = \"ignore\"\n", err: "on_audit_failure"},
		{name: "unlock", text: "[unlock]\nidle_timeout = \"5m\"\nmax_lifetime = \"0s\"\nmax_signatures = 20\n",
			want: Config{Unlock: Unlock{IdleTimeout: 5 * time.Minute, MaxSignatures: 20}}},
		{name: "unlock bad", text: "[unlock]\nmax_signatures = -1\n", err: "max_signatures"},
		{name: "unlock unknown", text: "[unlock]\nidle = \"5m\"\n", err: "unlock.idle"},
		{name: "offers", text: "offer_default = \"none\"\n[[offer]]\nkey = \"work-*\"\nhosts = [\"github.com\", \"*.corp\"]\n",
			want: Config{OfferNone: true, Offers: []policy.Offer{{N: 1, Key: "work-*", Hosts: []string{"github.com", "*.corp"}}}}},
		{name: "pinentry", text: "pinentry = \"/usr/bin/pinentry-curses\"\ngrant_for = \"1h\"\n",
			want: Config{Pinentry: "/usr/bin/pinentry-curses", GrantFor: time.Hour}},
		{name: "grant uses", text: "grant_uses = 20\n", want: Config{GrantUses: 20}},
		{name: "grant uses negative", text: "grant_uses = -1\n", err: "grant_uses"},
		{name: "cooldown", text: "cooldown_after = 5\ncooldown = \"10m\"\n", want: Config{CooldownStrikes: 5, CooldownPeriod: 10 * time.Minute}},
		{name: "cooldown zero", text: "cooldown = \"0s\"\n", err: "positive"},
		{name: "cooldown after negative", text: "cooldown_after = -2\n", err: "cooldown_after"},
		{name: "notify off", text: "notify = false\n", quiet: true},
		{name: "notify on", text: "notify = true\n"},
		{name: "notify bad", text: "notify = \"yes\"\n", err: "line 1"},
		{name: "approver list", text: "approver = [\"tui\", \"askpass\"]\naskpass = \"/usr/bin/ssh-askpass\"\n",
			want: Config{Approvers: []string{"tui", "askpass"}, Askpass: "/usr/bin/ssh-askpass"}},
		{name: "approver empty list", text: "approver = []\n", err: "at least one"},
		{name: "approver unknown", text: "approver = [\"tui\", \"zenity\"]\n", err: "zenity is not one of"},
		{name: "approver twice", text: "approver = [\"tui\", \"tui\"]\n", err: "listed twice"},
		{name: "approver not a string", text: "approver = [1]\n", err: "1 is not one of"},
		{name: "approver wrong type", text: "approver = 1\n", err: "want a list"},
		{name: "relative askpass", text: "askpass = \"bin/askpass\"\n", err: `askpass "bin/askpass": want an absolute path`},
		{name: "relative approver program", text: "approver = \"askpass\"\n", err: `askpass "askpass": want an absolute path`},
		{name: "relative pinentry", text: "pinentry = \"pinentry-curses\"\n", err: `pinentry "pinentry-curses": want an absolute path`},
		{name: "relative store_dir", text: "store_dir = \"store\"\n", err: `store_dir "store": want an absolute path`},
		{name: "relative audit_dir", text: "audit_dir = \"audit\"\n", err: `audit_dir "audit": want an absolute path`},
		{name: "relative socket", text: "socket = \"agent.sock\"\n", err: `socket "agent.sock": want an absolute path`},
		{name: "approver program and askpass", text: "approver = \"/a\"\naskpass = \"/b\"\n", err: "keep askpass"},
		{name: "offer without hosts", text: "[[offer]]\nkey = \"x\"\n", err: "offer 1: hosts is empty"},
		{name: "bad offer default", text: "offer_default = \"some\"\n", err: "offer_default"},
		{name: "rule without action", text: "[[rule]]\nexe = \"/usr/bin/ssh\"\n", err: "rule 1: action is required"},
		{name: "rule bad action", text: "[[rule]]\naction = \"yes\"\n", err: "rule 1: action \"yes\""},
		{name: "rule unknown key", text: "[[rule]]\naction = \"allow\"\nprogram = \"x\"\n", err: "rule.program"},
		{name: "rule invalid", text: "[[rule]]\naction = \"allow\"\n[[rule]]\naction = \"allow\"\nexe = \"ssh\"\n", err: "rule 2: exe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want.Unlock == (Unlock{}) {
				tt.want.Unlock = DefaultUnlock
			}
			if tt.want.GrantFor == 0 {
				tt.want.GrantFor = 5 * time.Minute
			}
			tt.want.Notify = !tt.quiet
			got, err := Parse(tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "toml:") {
					t.Errorf("Parse error = %v: the library's wording, not vigil's", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.toml")
	if _, err := Load(path, true); err != nil {
		t.Errorf("missing optional file: %v", err)
	}
	if _, err := Load(path, false); err == nil {
		t.Error("missing explicit file: no error")
	}
	if err := os.WriteFile(path, []byte("bogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, true); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad file: error %v should name the file", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("prompt_timeout = \"30s\"\n")
	f.Add("socket = \"x\"\n[table]\n")
	f.Add("[[rule]]\naction = \"allow\"\n[[rule]]\nprogram = 1\n[unlock]\nmax_signatures = \"3\"\n")
	f.Add("a.\"b,c\".d = 1\n[[x.y]]\nz = []\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(text)
		if err == nil && (c.PromptTimeout < 0 || c.Lifetime < 0) {
			t.Fatalf("negative duration accepted: %+v", c)
		}
	})
}

// TestNeedRestart changes each setting in turn: every one but the rules and
// offers must be named, so that a setting added later is not silently left
// out of the SIGHUP warning.
func TestNeedRestart(t *testing.T) {
	reloaded := map[string]bool{"Rules": true, "Offers": true, "OfferNone": true}
	base, err := Parse("")
	if err != nil {
		t.Fatal(err)
	}
	var changeable func(v reflect.Value, name string)
	changeable = func(v reflect.Value, name string) {
		for i := range v.NumField() {
			f, field := v.Field(i), name+v.Type().Field(i).Name
			if f.Kind() == reflect.Struct {
				changeable(f, field+".")
				continue
			}
			if reloaded[field] {
				continue
			}
			saved := reflect.ValueOf(f.Interface())
			switch f.Kind() {
			case reflect.String:
				f.SetString(f.String() + "x")
			case reflect.Int, reflect.Int64:
				f.SetInt(f.Int() + 1)
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Slice:
				f.Set(reflect.ValueOf([]string{"tui"}))
			default:
				t.Fatalf("%s: a %v field: teach this test to change it", field, f.Kind())
			}
			next := reflect.ValueOf(&base).Elem().Interface().(Config)
			f.Set(saved)
			if keys := base.NeedRestart(next); len(keys) != 1 {
				t.Errorf("%s changed: NeedRestart = %q, want one key", field, keys)
			}
		}
	}
	changeable(reflect.ValueOf(&base).Elem(), "")
	for _, text := range []string{"[[rule]]\naction = \"deny\"\n", "offer_default = \"none\"\n[[offer]]\nhosts = [\"x\"]\n"} {
		next, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if keys := base.NeedRestart(next); len(keys) != 0 {
			t.Errorf("rules or offers changed (%q): NeedRestart = %q, want none", text, keys)
		}
	}
}
