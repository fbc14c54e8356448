#!/usr/bin/env bash
# Install axe-core (the accessibility engine the browser tests run on every page, tests/test_book_a11y_layout.py)
# from the npm registry into DEST (default .cache/axe-core), never from a CDN. Does nothing when that version is
# already there. Usage: install_axe.sh [DEST]
set -eo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$repo/.cache/axe-core}
version=4.14.1
if [ -f "$dest/axe.min.js" ] && grep -q "\"version\": \"$version\"" "$dest/package.json" 2>/dev/null; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "axe-core@$version" --silent >/dev/null)
rm -rf "$dest"
mkdir -p "$dest"
tar -xzf "$work/axe-core-$version.tgz" -C "$dest" --strip-components=1
test -f "$dest/axe.min.js"
echo "axe-core $version installed in $dest"
