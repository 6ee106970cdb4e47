package knownhosts

import (
	"bufio"
	"fmt"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var sshArgsTests = []struct {
	name string
	args []string // after argv[0]
	want Dest
	ok   bool
	// Cases where this parser and ssh -G disagree on purpose.
	lenient bool // ssh refuses, ParseSSHArgs accepts (it ignores unknown -o keywords)
	strict  bool // ssh accepts, ParseSSHArgs refuses (-P, ports by service name)
}{
	{name: "host", args: []string{"host"}, want: Dest{Host: "host"}, ok: true},
	{name: "user@host", args: []string{"git@github.com"}, want: Dest{User: "git", Host: "github.com"}, ok: true},
	{name: "options and command", args: []string{"-p", "2222", "-o", "X=Y", "git@github.com", "cmd"},
		want: Dest{User: "git", Host: "github.com", Port: 2222}, ok: true, lenient: true},
	{name: "-l", args: []string{"-l", "user", "host"}, want: Dest{User: "user", Host: "host"}, ok: true},
	{name: "attached arguments", args: []string{"-luser", "-p2222", "host"}, want: Dest{User: "user", Host: "host", Port: 2222}, ok: true},
	{name: "clustered flags", args: []string{"-4Avp", "2222", "-Tq", "host"}, want: Dest{Host: "host", Port: 2222}, ok: true},
	{name: "options after the host", args: []string{"host", "-p", "2222", "-l", "u", "ls", "-p", "3"},
		want: Dest{User: "u", Host: "host", Port: 2222}, ok: true},
	{name: "command options are not ssh's", args: []string{"host", "ls", "-p", "3"}, want: Dest{Host: "host"}, ok: true},
	{name: "-- ends options", args: []string{"--", "host", "-p", "3"}, want: Dest{Host: "host"}, ok: true},
	{name: "-- after the host", args: []string{"host", "--", "-p", "3"}, want: Dest{Host: "host"}, ok: true},
	{name: "first -p wins", args: []string{"-p", "2", "-p", "3", "h"}, want: Dest{Host: "h", Port: 2}, ok: true},
	{name: "a later bad -p is not looked at", args: []string{"-p", "2", "-p", "x", "h"}, want: Dest{Host: "h", Port: 2}, ok: true},
	{name: "bad port", args: []string{"-p", "x", "h"}},
	{name: "port 0", args: []string{"-p", "0", "h"}},
	{name: "port too big", args: []string{"-p", "65536", "h"}},
	{name: "port by service name", args: []string{"-p", "ssh", "h"}, want: Dest{Host: "h", Port: 22}, ok: true},
	{name: "port by other service name", args: []string{"-p", "http", "h"}, strict: true},
	{name: "-o Port before -p", args: []string{"-o", "Port=4", "-p", "3", "h"}, want: Dest{Host: "h", Port: 4}, ok: true},
	{name: "-o with spaces", args: []string{"-o", "  port   =  2200 ", "h"}, want: Dest{Host: "h", Port: 2200}, ok: true},
	{name: "-o two equals", args: []string{"-o", "port==2200", "h"}},
	{name: "-o without value", args: []string{"-o", "Port", "h"}},
	{name: "-o missing", args: []string{"h", "-o"}},
	{name: "-o User loses to user@", args: []string{"alice@h", "-o", "User=bob"}, want: Dest{User: "alice", Host: "h"}, ok: true},
	{name: "-o User wins before user@", args: []string{"-o", "User=bob", "alice@h"}, want: Dest{User: "bob", Host: "h"}, ok: true},
	{name: "user with @", args: []string{"a@b@h"}, want: Dest{User: "a@b", Host: "h"}, ok: true},
	{name: "empty user", args: []string{"@h"}},
	{name: "HostKeyAlias", args: []string{"-o", "HostKeyAlias=Foo", "h"}, want: Dest{Host: "h", Alias: "Foo"}, ok: true},
	{name: "HostName with %h", args: []string{"-o", "HostName=%h.Example.com", "H"}, want: Dest{Host: "H", HostName: "H.Example.com"}, ok: true},
	{name: "HostName with %%", args: []string{"-oHostName=a%%b", "h"}, want: Dest{Host: "h", HostName: "a%b"}, ok: true},
	{name: "HostName with a bad escape", args: []string{"-o", "HostName=%x", "h"}},
	{name: "known hosts files", args: []string{"-o", "UserKnownHostsFile=/a /b", "-o", "GlobalKnownHostsFile /g", "h"},
		want: Dest{Host: "h", KnownHostsFiles: []string{"/a", "/b", "/g"}}, ok: true},
	{name: "quoted known hosts file", args: []string{`-oUserKnownHostsFile="/a b" /c\ d '/e'`, "h"},
		want: Dest{Host: "h", KnownHostsFiles: []string{"/a b", "/c d", "/e"}}, ok: true},
	{name: "known hosts file comment", args: []string{"-o", "UserKnownHostsFile /a #/b", "h"},
		want: Dest{Host: "h", KnownHostsFiles: []string{"/a"}}, ok: true},
	{name: "unterminated quote", args: []string{"-o", `UserKnownHostsFile="/a`, "h"}},
	{name: "known hosts none", args: []string{"-o", "UserKnownHostsFile none", "h"}, want: Dest{Host: "h"}, ok: true},
	{name: "known hosts none and more", args: []string{"-o", "UserKnownHostsFile=none /x", "h"}},
	{name: "first known hosts option wins", args: []string{"-o", "UserKnownHostsFile=/1", "-o", "UserKnownHostsFile=/2", "h"},
		want: Dest{Host: "h", KnownHostsFiles: []string{"/1"}}, ok: true},
	{name: "URI", args: []string{"ssh://user@host:2200"}, want: Dest{User: "user", Host: "host", Port: 2200}, ok: true},
	{name: "URI without user or port", args: []string{"ssh://host"}, want: Dest{Host: "host"}, ok: true},
	{name: "URI with slash", args: []string{"ssh://host:2200/"}, want: Dest{Host: "host", Port: 2200}, ok: true},
	{name: "URI with escapes and parameters", args: []string{"ssh://b%41b+c;x=y@Host.example.:2200/"},
		want: Dest{User: "bAb c", Host: "Host.example", Port: 2200}, ok: true},
	{name: "URI with path", args: []string{"ssh://host/path"}},
	{name: "URI with bad port", args: []string{"ssh://host:x"}},
	{name: "URI with IPv6", args: []string{"ssh://[::1]:22"}},
	{name: "URI with bad host", args: []string{"ssh://-host"}},
	{name: "URI port loses to -p", args: []string{"-p", "1", "ssh://host:2"}, want: Dest{Host: "host", Port: 1}, ok: true},
	{name: "not a URI", args: []string{"SSH://host"}, want: Dest{Host: "SSH://host"}, ok: true},
	{name: "jump host", args: []string{"-J", "jump", "h"}, want: Dest{Host: "h"}, ok: true},
	{name: "-W", args: []string{"-W", "x:22", "jump"}, want: Dest{Host: "jump"}, ok: true},
	{name: "-P is version dependent", args: []string{"-P", "tag", "h"}, strict: true},
	{name: "unknown option", args: []string{"-j", "h"}},
	{name: "no destination", args: []string{"-v"}},
	{name: "nothing", args: nil},
	{name: "dash as host", args: []string{"-x", "-"}},
	{name: "host with a shell character", args: []string{"h;id"}},
	{name: "host with a comma", args: []string{"a,b"}},
	{name: "host with a control character", args: []string{"a\x1bb"}},
	{name: "user with a shell character", args: []string{"-l", "a;b", "h"}},
	{name: "user with space dash", args: []string{"a -o@h"}},
	{name: "user with a trailing backslash", args: []string{"-o", "User=a\\\\", "h"}},
	{name: "empty user with -l", args: []string{"-l", "", "h"}, want: Dest{Host: "h"}, ok: true},
	{name: "overlong host", args: []string{strings.Repeat("h", maxNameLen+1)}, strict: true},
}

func TestParseSSHArgs(t *testing.T) {
	for _, tt := range sshArgsTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseSSHArgs(append([]string{"ssh"}, tt.args...))
			if ok != tt.ok || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("ParseSSHArgs(%q)\n got %+v, %v\nwant %+v, %v", tt.args, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestParseSSHArgsAgainstSSH asks OpenSSH itself: ssh -G prints the
// settings a command line makes, without connecting.
func TestParseSSHArgsAgainstSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("ssh not installed (package openssh-client)")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range sshArgsTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("ssh", append([]string{"-G", "-F", "/dev/null"}, tt.args...)...)
			cmd.Dir = t.TempDir() // where a stray -E log file would land
			out, err := cmd.Output()
			sshOK := err == nil && len(out) > 0
			d, ok := ParseSSHArgs(append([]string{"ssh"}, tt.args...))
			switch {
			case sshOK && !ok && !tt.strict:
				t.Fatalf("ssh accepts %q, ParseSSHArgs does not", tt.args)
			case !sshOK && ok && !tt.lenient:
				t.Fatalf("ssh refuses %q, ParseSSHArgs accepts it: %+v", tt.args, d)
			case !sshOK || !ok:
				return
			}
			cfg := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(string(out)))
			for sc.Scan() {
				k, v, _ := strings.Cut(sc.Text(), " ")
				cfg[k] = v
			}
			host := d.Candidates()[0]
			if d.Port != 0 && d.Port != 22 && d.Alias == "" {
				host = certHost(host)
			}
			wantUser, wantPort := d.User, d.Port
			if wantUser == "" && !slices.Contains(tt.args, "-l") {
				wantUser = me.Username
			}
			if wantPort == 0 {
				wantPort = 22
			}
			// ssh does not lowercase what looks like an address; Candidates
			// does, as ssh's canonicalisation of real addresses does.
			if d.Alias != "" {
				if !strings.EqualFold(cfg["hostkeyalias"], host) {
					t.Errorf("hostkeyalias: ssh %q, candidates %q", cfg["hostkeyalias"], d.Candidates())
				}
			} else if !strings.EqualFold(cfg["hostname"], host) {
				t.Errorf("hostname: ssh %q, candidates %q", cfg["hostname"], d.Candidates())
			}
			if cfg["user"] != wantUser || cfg["port"] != strconv.Itoa(wantPort) {
				t.Errorf("ssh says %s@%s port %s; parsed %+v", cfg["user"], cfg["hostname"], cfg["port"], d)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		d    Dest
		want []string
	}{
		{Dest{Host: "GitHub.com"}, []string{"github.com"}},
		{Dest{Host: "h", Port: 22}, []string{"h"}},
		{Dest{Host: "h", Port: 2222}, []string{"[h]:2222"}},
		{Dest{Host: "::1", Port: 2222}, []string{"[::1]:2222"}},
		{Dest{Host: "alias", HostName: "Real.example", Port: 2222}, []string{"[real.example]:2222"}},
		{Dest{Host: "h", Port: 2222, Alias: "Other"}, []string{"other"}},
		{Dest{}, nil},
	}
	for _, tt := range tests {
		if got := tt.d.Candidates(); !slices.Equal(got, tt.want) {
			t.Errorf("%+v.Candidates() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFiles(t *testing.T) {
	d := Dest{User: "git", Host: "Alias", HostName: "Real.example", Port: 2222, KnownHostsFiles: []string{
		"~/kh", "~", "%d/x", "/k/%h-%p-%r-%n-%%", "rel/kh", "~other/kh", "/k/%u", "/k/${HOME}", "/k/%", "/k/../k2",
	}}
	got := d.Files("/home/u", "/work")
	want := []string{"/home/u/kh", "/home/u", "/home/u/x", "/k/real.example-2222-git-Alias-%", "/work/rel/kh", "/k2"}
	if !slices.Equal(got, want) {
		t.Errorf("Files =\n %q\nwant\n %q", got, want)
	}
	if got := d.Files("", ""); !slices.Equal(got, []string{"/k/real.example-2222-git-Alias-%", "/k2"}) {
		t.Errorf("Files without home or cwd = %q", got)
	}
	if got := (Dest{Host: "h", KnownHostsFiles: []string{"/k/%p-%r"}}).Files("/h", "/"); got != nil {
		t.Errorf("%%r without a user must be left out: %q", got)
	}
}

// ssh itself expands UserKnownHostsFile the same way.
func TestFilesAgainstSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("ssh not installed (package openssh-client)")
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", "2222", "-l", "git", "-o", "HostName=Real.example",
		"-o", "UserKnownHostsFile ~/kh %d/x /k/%h-%p-%r-%n-%% /k/../k2", "Alias"}
	out, err := exec.Command("ssh", append([]string{"-G", "-F", "/dev/null"}, args...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	var sshFiles []string
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "userknownhostsfile "); ok {
			sshFiles = strings.Fields(v)
		}
	}
	d, ok := ParseSSHArgs(append([]string{"ssh"}, args...))
	if !ok {
		t.Fatal("ParseSSHArgs refused", args)
	}
	got := d.Files(me.HomeDir, "/")
	for i := range sshFiles {
		sshFiles[i] = strings.ReplaceAll(sshFiles[i], "/k/../k2", "/k2") // Files cleans paths
	}
	if !slices.Equal(got, sshFiles) {
		t.Errorf("Files = %q, ssh -G says %q", got, sshFiles)
	}
}
