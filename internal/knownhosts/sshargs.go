package knownhosts

import (
	"path/filepath"
	"strconv"
	"strings"
)

// Dest is where an ssh command line says to connect, read as OpenSSH's ssh
// reads its arguments. ssh_config files are not read, so a Host alias
// defined there is reported as typed.
type Dest struct {
	User            string   // -l, user@host, ssh://user@host or -o User; "" if not given
	Host            string   // the destination host as given, without user and port
	HostName        string   // -o HostName, with %h expanded; "" if not given
	Port            int      // -p, ssh://host:port or -o Port; 0 if not given
	Alias           string   // -o HostKeyAlias; "" if not given
	KnownHostsFiles []string // -o UserKnownHostsFile and GlobalKnownHostsFile values, as written
}

// Bounds on what ParseSSHArgs accepts; beyond them it gives up.
const (
	maxArgs    = 4096
	maxArgLen  = 64 << 10
	maxFiles   = 32 // SSH_MAX_HOSTS_FILES, per option
	maxPathLen = 4096
)

// ssh's options, the union of OpenSSH 9.2 and later. -P is left out on
// purpose: it takes no argument in 9.2 and one in later releases, so a
// command line using it cannot be read without knowing the version.
const (
	sshFlags    = "1246ACGKMNTVXYZafgknqstvxy"
	sshArgFlags = "BDEFIJLOQRSWbceilmopw"
)

// ParseSSHArgs reads an ssh command line (argv[0] is the program) and
// returns its destination; Host is never empty when it returns true. It
// returns false when argv names no destination, is something ssh would
// refuse (an unknown option, a bad port, an unterminated quote, a host or
// user with characters ssh rejects), or exceeds generous size limits.
func ParseSSHArgs(argv []string) (Dest, bool) {
	if len(argv) < 2 || len(argv) > maxArgs {
		return Dest{}, false
	}
	for _, a := range argv {
		if len(a) > maxArgLen {
			return Dest{}, false
		}
	}
	var p argParser
	args := argv[1:]
	for {
		// Like ssh: options, the destination, then options again
		// (unless "--" ended them) up to the command.
		n, ok := p.options(args)
		if !ok {
			return Dest{}, false
		}
		terminated := n > 0 && args[n-1] == "--"
		args = args[n:]
		if len(args) == 0 || p.hostSet {
			break
		}
		if !p.destination(args[0]) {
			return Dest{}, false
		}
		args = args[1:]
		if terminated || len(args) == 0 {
			break
		}
	}
	if !p.hostSet || len(p.d.Host) > maxNameLen || !validHostname(p.d.Host) ||
		(p.userSet && !validUser(p.d.User)) {
		return Dest{}, false
	}
	if p.hostNameSet {
		hn, ok := expandHostName(p.hostName, p.d.Host)
		if !ok || hn == "" || len(hn) > maxNameLen {
			return Dest{}, false
		}
		p.d.HostName = hn
	}
	if len(p.d.Alias) > maxNameLen {
		return Dest{}, false
	}
	p.d.KnownHostsFiles = append(p.userFiles, p.globalFiles...)
	return p.d, true
}

// argParser holds ssh's option state: for each setting, the first value
// given wins, as in ssh.
type argParser struct {
	d                          Dest
	hostSet, userSet, portSet  bool
	aliasSet, hostNameSet      bool
	userFilesSet, globFilesSet bool
	hostName                   string
	userFiles, globalFiles     []string
}

// options parses options as BSD getopt does, stopping at the first
// argument that is not an option, and returns how many arguments it used.
func (p *argParser) options(args []string) (int, bool) {
	i := 0
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return i + 1, true
		}
		if len(a) < 2 || a[0] != '-' {
			return i, true
		}
		i++
		for j := 1; j < len(a); j++ {
			c := a[j]
			if strings.IndexByte(sshFlags, c) >= 0 {
				continue
			}
			if strings.IndexByte(sshArgFlags, c) < 0 {
				return 0, false
			}
			var val string
			switch {
			case j+1 < len(a):
				val = a[j+1:]
			case i < len(args):
				val = args[i]
				i++
			default:
				return 0, false
			}
			if !p.option(c, val) {
				return 0, false
			}
			break
		}
	}
	return i, true
}

func (p *argParser) option(c byte, val string) bool {
	switch c {
	case 'p':
		if !p.portSet {
			port, ok := parsePort(val)
			if !ok {
				return false
			}
			p.d.Port, p.portSet = port, true
		}
	case 'l':
		if !p.userSet {
			p.d.User, p.userSet = val, true
		}
	case 'o':
		return p.configLine(val)
	}
	return true
}

// configLine applies the settings of a -o option that bear on the host key
// lookup, as ssh's process_config_line reads them; others are ignored.
func (p *argParser) configLine(line string) bool {
	line = strings.TrimRight(line, " \t\r\n\f")
	line = strings.TrimLeft(line, " \t\r\n")
	end := strings.IndexAny(line, " \t\r\n=\"")
	if end < 0 {
		return false // no argument
	}
	keyword, rest := asciiLower(line[:end]), line[end:]
	rest = strings.TrimLeft(rest, " \t\r\n")
	rest = strings.TrimPrefix(rest, "=")
	rest = strings.TrimLeft(rest, " \t\r\n")
	if keyword == "" || rest == "" {
		return false
	}
	args, ok := splitConfigArgs(rest)
	if !ok {
		return false
	}
	first := ""
	if len(args) > 0 {
		first = args[0]
	}
	switch keyword {
	case "port":
		port, ok := parsePort(first)
		if !ok {
			return false
		}
		if !p.portSet {
			p.d.Port, p.portSet = port, true
		}
	case "user":
		if first == "" {
			return false
		}
		if !p.userSet {
			p.d.User, p.userSet = first, true
		}
	case "hostname":
		if first == "" {
			return false
		}
		if !p.hostNameSet {
			p.hostName, p.hostNameSet = first, true
		}
	case "hostkeyalias":
		if first == "" {
			return false
		}
		if !p.aliasSet {
			p.d.Alias, p.aliasSet = first, true
		}
	case "userknownhostsfile":
		files, ok := fileList(args)
		if !ok {
			return false
		}
		if !p.userFilesSet {
			p.userFiles, p.userFilesSet = files, true
		}
	case "globalknownhostsfile":
		files, ok := fileList(args)
		if !ok {
			return false
		}
		if !p.globFilesSet {
			p.globalFiles, p.globFilesSet = files, true
		}
	}
	return true
}

// fileList checks a list of known_hosts files as ssh does; "none" alone
// means no file.
func fileList(args []string) ([]string, bool) {
	if len(args) == 0 || len(args) > maxFiles {
		return nil, false
	}
	for _, a := range args {
		if a == "" || len(a) > maxPathLen || (strings.EqualFold(a, "none") && len(args) > 1) {
			return nil, false
		}
	}
	if strings.EqualFold(args[0], "none") {
		return nil, true
	}
	return args, true
}

// splitConfigArgs splits the arguments of a configuration line as OpenSSH's
// argv_split does: blanks separate, quotes group, a backslash escapes a
// quote, a backslash or (outside quotes) a space, and a '#' at the start of
// an argument ends the line.
func splitConfigArgs(s string) ([]string, bool) {
	var args []string
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			continue
		}
		if s[i] == '#' {
			break
		}
		var arg []byte
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) &&
				(s[i+1] == '\'' || s[i+1] == '"' || s[i+1] == '\\' || (quote == 0 && s[i+1] == ' ')):
				i++
				arg = append(arg, s[i])
				continue
			case quote == 0 && (c == ' ' || c == '\t'):
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				continue
			case quote != 0 && c == quote:
				quote = 0
				continue
			default:
				arg = append(arg, c)
				continue
			}
			break
		}
		if quote != 0 {
			return nil, false
		}
		args = append(args, string(arg))
	}
	return args, true
}

// destination reads ssh's destination argument: ssh://[user@]host[:port],
// or [user@]host, where the user is everything before the last '@'.
func (p *argParser) destination(arg string) bool {
	p.hostSet = true
	if rest, ok := strings.CutPrefix(arg, "ssh://"); ok {
		return p.uri(rest)
	}
	if at := strings.LastIndexByte(arg, '@'); at >= 0 {
		if at == 0 {
			return false
		}
		if !p.userSet {
			p.d.User, p.userSet = arg[:at], true
		}
		arg = arg[at+1:]
	}
	p.d.Host = arg
	return true
}

// uri reads an ssh:// URI after its scheme, as OpenSSH's parse_uri does.
func (p *argParser) uri(rest string) bool {
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		user := rest[:at]
		if i := strings.IndexByte(user, ';'); i >= 0 {
			user = user[:i] // connection parameters are ignored
		}
		if user == "" {
			return false
		}
		user, ok := urlDecode(user)
		if !ok {
			return false
		}
		if !p.userSet {
			p.d.User, p.userSet = user, true
		}
		rest = rest[at+1:]
	}
	var host string
	var delim byte
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return false
		}
		host, rest = rest[:end+1], rest[end+1:]
	} else if end := strings.IndexAny(rest, ":/"); end >= 0 {
		host, rest = rest[:end], rest[end:]
	} else {
		host, rest = rest, ""
	}
	if rest != "" {
		if rest[0] != ':' && rest[0] != '/' {
			return false
		}
		delim, rest = rest[0], rest[1:]
	}
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	host, ok := validDomain(host)
	if !ok {
		return false
	}
	p.d.Host = host
	if rest != "" && delim == ':' {
		portStr, path, _ := strings.Cut(rest, "/")
		port, ok := parsePort(portStr)
		if !ok {
			return false
		}
		if !p.portSet {
			p.d.Port, p.portSet = port, true
		}
		rest = path
	}
	return rest == "" // a path is not allowed
}

// validHostname is OpenSSH's ssh_valid_hostname, which ssh applies to the
// destination since 9.6 (and Debian's 9.2 since its CVE-2023-51385 fix).
func validHostname(s string) bool {
	if s == "" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("'`\"$\\;&<>|(){},", s[i]) >= 0 || isSpace(s[i]) || isCntrl(s[i]) {
			return false
		}
	}
	return true
}

// validUser is OpenSSH's ssh_valid_ruser, for a user named on the command
// line.
func validUser(s string) bool {
	if strings.HasPrefix(s, "-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isCntrl(c) || strings.IndexByte("'`\";&<>|(){}", c) >= 0 ||
			isSpace(c) && i+1 < len(s) && s[i+1] == '-' ||
			c == '\\' && i+1 == len(s) {
			return false
		}
	}
	return true
}

// isSpace and isCntrl are C's, in the C locale.
func isSpace(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }
func isCntrl(c byte) bool { return c < 0x20 || c == 0x7f }

// validDomain is OpenSSH's valid_domain, which ssh:// hosts must pass; it
// drops one trailing dot.
func validDomain(s string) (string, bool) {
	if s == "" || !isAlnum(s[0]) {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' && i > 0 && s[i-1] == '.' {
			return "", false
		}
		if c != '.' && c != '-' && c != '_' && !isAlnum(c) {
			return "", false
		}
	}
	return strings.TrimSuffix(s, "."), true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// urlDecode is OpenSSH's urldecode: %XX escapes, and '+' for a space.
func urlDecode(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			b.WriteByte(' ')
		case '%':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			if v == 0 {
				return b.String(), true // the end of a C string
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// parsePort is OpenSSH's a2port, which takes a decimal number or a service
// name; of the names, only "ssh" is known here.
func parsePort(s string) (int, bool) {
	if s == "ssh" {
		return 22, true
	}
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	port, err := strconv.Atoi(s)
	if err != nil || port <= 0 || port > 65535 {
		return 0, false
	}
	return port, true
}

// expandHostName expands a HostName value as ssh does: %h is the host as
// given, %% a percent sign; any other escape makes ssh exit.
func expandHostName(v, host string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if i+1 >= len(v) {
			return "", false
		}
		i++
		switch v[i] {
		case 'h':
			b.WriteString(host)
		case '%':
			b.WriteByte('%')
		default:
			return "", false
		}
	}
	return b.String(), true
}

// Candidates returns the names ssh looks the host key up under: the
// HostKeyAlias if given, else the host name (after HostName), as
// "[host]:port" for a port other than 22, lowercased as ssh lowercases them.
func (d Dest) Candidates() []string {
	if d.Alias != "" {
		return []string{asciiLower(d.Alias)}
	}
	host := d.HostName
	if host == "" {
		host = d.Host
	}
	if host == "" {
		return nil
	}
	host = asciiLower(host)
	if d.Port != 0 && d.Port != 22 {
		return []string{"[" + host + "]:" + strconv.Itoa(d.Port)}
	}
	return []string{host}
}

// Files returns KnownHostsFiles as ssh would open them: "~" and "~/" name
// home, %d is home, %h the host name, %n the host as given, %p the port, %r
// the remote user and %% a percent sign, and a relative path is relative to
// cwd, the calling ssh's working directory. A path that needs anything else
// (another user's home, another escape, an environment variable) is left
// out, as is every path when home or cwd is needed but not absolute.
func (d Dest) Files(home, cwd string) []string {
	host := d.HostName
	if host == "" {
		host = d.Host
	}
	host = asciiLower(host)
	port := d.Port
	if port == 0 {
		port = 22
	}
	var out []string
	for _, f := range d.KnownHostsFiles {
		if f == "~" || strings.HasPrefix(f, "~/") {
			if !filepath.IsAbs(home) {
				continue
			}
			f = home + f[1:]
		} else if strings.HasPrefix(f, "~") {
			continue
		}
		if strings.Contains(f, "${") {
			continue
		}
		var b strings.Builder
		ok := true
		for i := 0; ok && i < len(f); i++ {
			if f[i] != '%' {
				b.WriteByte(f[i])
				continue
			}
			if i+1 >= len(f) {
				ok = false
				break
			}
			i++
			switch f[i] {
			case '%':
				b.WriteByte('%')
			case 'd':
				ok = filepath.IsAbs(home)
				b.WriteString(home)
			case 'h':
				b.WriteString(host)
			case 'n':
				b.WriteString(d.Host)
			case 'p':
				b.WriteString(strconv.Itoa(port))
			case 'r':
				ok = d.User != ""
				b.WriteString(d.User)
			default:
				ok = false
			}
		}
		if !ok {
			continue
		}
		path := b.String()
		if !filepath.IsAbs(path) {
			if !filepath.IsAbs(cwd) {
				continue
			}
			path = filepath.Join(cwd, path)
		}
		out = append(out, filepath.Clean(path))
	}
	return out
}
