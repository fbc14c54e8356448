#!/usr/bin/env bash
# Strict build of the book: warnings are errors (-W), every problem is reported (--keep-going), a failing cell
# fails the build (nb_execution_raise_on_error in _config.yml). Execution is cached in _build/.jupyter_cache;
# the cache only sees code cells, so it is cleared whenever vaelib/ or the run mode (VAE_BOOK_FAST) changes.
# Usage: build_book.sh                  build in the repository root
#        build_book.sh --copy-to DIR    copy the book's sources into DIR (timestamps kept) and build there, with
#                                       DIR's own execution cache (the tests and bench/bench_build.py do this)
set -eo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$repo
if [ "$1" = "--copy-to" ]; then
  root=${2:?usage: build_book.sh --copy-to DIR}
  mkdir -p "$root"
  for name in _config.yml _toc.yml book vaelib scripts; do
    cp -rp "$repo/$name" "$root/"
  done
  find "$root/vaelib" -name __pycache__ -prune -exec rm -rf {} +
fi
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
echo "book built in $(( $(date +%s) - start )) s: open $root/_build/html/index.html"
