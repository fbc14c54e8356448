#!/usr/bin/env bash
# Strict build of the book: warnings are errors (-W), every problem is reported (--keep-going), a failing cell
# fails the build (nb_execution_raise_on_error in _config.yml). Execution is cached in _build/.jupyter_cache;
# the cache only sees code cells, so it is cleared whenever vaelib/ or the run mode (VAE_BOOK_FAST) changes.
# Usage: build_book.sh [BOOK_ROOT]   (default: the repository root)
set -eo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
cache=_build/.jupyter_cache
key="mode=${VAE_BOOK_FAST:-0} lib=$(cat vaelib/*.py | sha256sum | cut -c1-16)"
if [ -d "$cache" ] && [ "$(cat "$cache.key" 2>/dev/null)" != "$key" ]; then
  echo "vaelib or the run mode changed since the cached execution: clearing $cache"
  rm -rf "$cache"
fi
mkdir -p _build
echo "$key" > "$cache.key"
start=$(date +%s)
jupyter-book build . -W --keep-going
echo "book built in $(( $(date +%s) - start )) s: open _build/html/index.html"
