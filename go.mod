module github.com/vigil-agent/vigil

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.47.0
)

require github.com/twpayne/go-pinentry/v4 v4.0.0

require github.com/Microsoft/go-winio v0.6.4
