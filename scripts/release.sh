#!/usr/bin/env bash
# Builds Rolegate's release archives: rolegate for linux and darwin, amd64 and
# arm64 (pure Go, CGO off: the SQLite driver is modernc's, so every target
# cross-compiles from any machine), each in a .tar.gz with LICENSE, README.md
# and CHANGELOG.md, and SHA256SUMS over the archives.
#
#   scripts/release.sh v0.1.0                 # a release, into dist/v0.1.0
#   scripts/release.sh --snapshot             # a snapshot of this checkout, into dist/snapshot
#   scripts/release.sh --snapshot --out DIR   # ... into DIR
#
# A release needs a vMAJOR.MINOR.PATCH version, a clean work tree, and
# CHANGELOG.md to have a section for it; tag the commit (git tag -a v0.1.0,
# and the nested modules' tags api/v0.1.0, client/v0.1.0 and
# client/ginguard/v0.1.0, so that adopters can require them) and publish the
# archives and SHA256SUMS. A snapshot is versioned
# v0.0.0-snapshot-<commit>. The version, commit and commit date go into the
# binary (rolegate version); builds are reproducible (-trimpath, commit date
# as the archives' times).
set -euo pipefail
cd "$(dirname "$0")/.."

snapshot=false
out=""
version=""
while [ $# -gt 0 ]; do
	case "$1" in
	--snapshot) snapshot=true ;;
	--out) out="$2"; shift ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	v*) version="$1" ;;
	*) echo "release: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
epoch="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
date="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
if $snapshot; then
	[ -z "$version" ] || { echo "release: --snapshot takes no version" >&2; exit 2; }
	version="v0.0.0-snapshot-${commit:0:12}"
	out="${out:-dist/snapshot}"
else
	if ! [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
		echo "release: give a version such as v0.1.0 (or --snapshot)" >&2; exit 2
	fi
	if [ -n "$(git status --porcelain)" ]; then
		echo "release: the work tree has changes; commit them first" >&2; exit 1
	fi
	if ! grep -q "^## \[${version#v}\]" CHANGELOG.md; then
		echo "release: CHANGELOG.md has no section ## [${version#v}]" >&2; exit 1
	fi
	out="${out:-dist/$version}"
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do
	os="${target%/*}" arch="${target#*/}"
	name="rolegate_${version#v}_${os}_${arch}"
	echo "release: building $name"
	mkdir -p "$stage/$name"
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false -ldflags="$ldflags" \
		-o "$stage/$name/rolegate" ./cmd/rolegate
	cp LICENSE README.md CHANGELOG.md "$stage/$name/"
	tar -C "$stage" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner -cf - "$name" |
		gzip -n -9 >"$out/$name.tar.gz"
done
(cd "$out" && sha256sum rolegate_*.tar.gz >SHA256SUMS)
echo "release: $version in $out:"
cat "$out/SHA256SUMS"
