#!/usr/bin/env bash
# Install MathJax 3 (es5 build, CHTML output and its fonts) into the book's static folder, from the npm registry,
# so the built pages render math offline. Usage: install_mathjax.sh DEST
set -eo pipefail
dest=${1:?usage: install_mathjax.sh DEST}
version=3.2.2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "mathjax@$version" --silent >/dev/null)
tar -xzf "$work/mathjax-$version.tgz" -C "$work"
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$work/package/es5/." "$dest/"
cp "$work/package/LICENSE" "$dest/LICENSE"
test -f "$dest/tex-chtml.js"
echo "MathJax $version installed in $dest"
