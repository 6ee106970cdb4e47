#!/bin/sh
# The one test command: installs what the tests need (on Debian/Ubuntu),
# then runs formatting, vet, staticcheck, the race-enabled test suite with
# the end-to-end tests against real OpenSSH, git and paramiko, and a short
# fuzz run of every fuzz target. Exits non-zero on any failure or skip.
set -eu
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-4s}
STATICCHECK_VERSION=v0.8.2

step() { printf '\n== %s\n' "$*"; }

# --- tools --------------------------------------------------------------
need_pkgs=""
[ -x /usr/sbin/sshd ] || need_pkgs="$need_pkgs openssh-server"
/usr/bin/python3 -c 'import paramiko' 2>/dev/null || need_pkgs="$need_pkgs python3-paramiko"
command -v ssh-agent >/dev/null || need_pkgs="$need_pkgs openssh-client"
# Desktop notifications are tested against a fake service on a private bus.
command -v dbus-daemon >/dev/null || need_pkgs="$need_pkgs dbus-daemon"
command -v groff >/dev/null || need_pkgs="$need_pkgs groff-base"
command -v setpriv >/dev/null || need_pkgs="$need_pkgs util-linux"
# vigil watch is driven in a real terminal: tmux send-keys and capture-pane.
command -v tmux >/dev/null || need_pkgs="$need_pkgs tmux"
# Shell completion is tested in each shell; the units under a real systemd --user.
command -v zsh >/dev/null || need_pkgs="$need_pkgs zsh"
command -v fish >/dev/null || need_pkgs="$need_pkgs fish"
[ -x /lib/systemd/systemd ] && command -v systemd-analyze >/dev/null || need_pkgs="$need_pkgs systemd"
if [ -n "$need_pkgs" ]; then
	step "installing:$need_pkgs"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	# Keep the package's own sshd from starting as a system service.
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod +x /usr/sbin/policy-rc.d
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
fi

GOBIN_DIR="$(pwd)/.cache/bin"
if [ ! -x "$GOBIN_DIR/staticcheck" ]; then
	step "installing staticcheck $STATICCHECK_VERSION"
	GOBIN="$GOBIN_DIR" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

# --- static checks ------------------------------------------------------
step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi
step "go vet"
go vet ./...
step "staticcheck"
"$GOBIN_DIR/staticcheck" ./...
step "cross builds"
GOOS=darwin go build ./...
GOOS=windows go build ./...

# --- tests --------------------------------------------------------------
step "go test -race ./..."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! go test -race -count=1 -v ./... >"$log" 2>&1; then
	grep -E '^(--- FAIL|FAIL|ok|panic:)|_test.go:[0-9]+:' "$log" | head -200
	echo "tests failed (full log: go test -race -v ./...)"
	exit 1
fi
grep -E '^(ok|FAIL)\s' "$log"
if grep -q -- '--- SKIP' "$log"; then
	echo "skipped tests are failures here:"
	grep -A3 -- '--- SKIP' "$log"
	exit 1
fi

# --- fuzzing ------------------------------------------------------------
step "fuzz ($FUZZTIME per target)"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
		echo "$pkg $target"
		if ! go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
			# Go's fuzz coordinator sometimes reports "context deadline
			# exceeded" when -fuzztime ends while a worker is busy on a
			# loaded machine. A real finding says "Failing input"; only the
			# former is retried, once.
			if grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input' "$log"; then
				echo "  (fuzz engine deadline hiccup; running $target again)"
				go test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1 || { cat "$log"; exit 1; }
			else
				cat "$log"; exit 1
			fi
		fi
	done
done

step "all passed"
