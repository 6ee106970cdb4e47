#!/bin/sh
# Builds vigil's release binaries: static (CGO_ENABLED=0), with no build
# paths in them (-trimpath), stripped, and with the version embedded, then
# writes SHA256SUMS beside them.
#
#   scripts/release.sh [-v VERSION] [-o DIR] [GOOS/GOARCH ...]
#
# VERSION defaults to `git describe --tags --always --dirty`; DIR to dist/;
# the platforms to linux/amd64 linux/arm64 darwin/arm64 windows/amd64.
# Binaries are named vigil-VERSION-GOOS-GOARCH (.exe on Windows).
set -eu

usage() {
	echo "usage: $0 [-v VERSION] [-o DIR] [GOOS/GOARCH ...]" >&2
	exit 2
}

version=""
out=""
while getopts v:o: opt; do
	case $opt in
	v) version=$OPTARG ;;
	o) out=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))

# The output directory is taken relative to where the script was run.
if [ -n "$out" ]; then
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
fi
cd "$(dirname "$0")/.."
[ -n "$out" ] || { mkdir -p dist && out=$(pwd)/dist; }
[ -n "$version" ] || version=$(git describe --tags --always --dirty)
case $version in
*[!A-Za-z0-9._+-]*) echo "$0: version $version: only letters, digits and . _ + - please" >&2; exit 2 ;;
esac
[ $# -gt 0 ] || set -- linux/amd64 linux/arm64 darwin/arm64 windows/amd64

names=""
for platform in "$@"; do
	goos=${platform%/*}
	goarch=${platform#*/}
	[ -n "$goos" ] && [ -n "$goarch" ] && [ "$goos/$goarch" = "$platform" ] || usage
	name=vigil-$version-$goos-$goarch
	[ "$goos" = windows ] && name=$name.exe
	echo "building $name" >&2
	CGO_ENABLED=0 GOOS=$goos GOARCH=$goarch go build -trimpath \
		-ldflags "-s -w -X main.version=$version" -o "$out/$name" ./cmd/vigil
	names="$names $name"
done

cd "$out"
if command -v sha256sum >/dev/null; then
	sha256sum $names >SHA256SUMS
else
	shasum -a 256 $names >SHA256SUMS # macOS
fi
echo "wrote$names and SHA256SUMS to $out" >&2
