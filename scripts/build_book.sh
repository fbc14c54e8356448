#!/usr/bin/env bash
# Strict build of the book: warnings are errors (-W), every problem is reported (--keep-going), a failing cell
# fails the build (nb_execution_raise_on_error in _config.yml). Execution is cached in _build/.jupyter_cache;
# the cache only sees code cells, so it is cleared whenever a file of vaelib/ or the run mode (VAE_BOOK_FAST)
# changes (the key: the mode and a hash over vaelib's files, names and contents, tests/test_build_script.py).
# Before building, book/<page>.ipynb (what Colab and Binder open) is regenerated from each book/<page>.md.
# Usage: build_book.sh                  build in the repository root
#        build_book.sh --copy-to DIR    copy the book's sources into DIR (timestamps kept) and build there, with
#                                       DIR's own execution cache (the tests and bench/bench_build.py do this)
set -eo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$repo
if [ "$1" = "--copy-to" ]; then
  root=${2:?usage: build_book.sh --copy-to DIR}
  mkdir -p "$root"
  for name in _config.yml _toc.yml book vaelib scripts exercises; do
    cp -rp "$repo/$name" "$root/"
  done
  find "$root/vaelib" -name __pycache__ -prune -exec rm -rf {} +
fi
cd "$root"
cache=_build/.jupyter_cache
lib_hash=$(find vaelib -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)
key="mode=${VAE_BOOK_FAST:-0} lib=$lib_hash"
if [ "$(cat "$cache.key" 2>/dev/null)" != "$key" ]; then
  # Sphinx re-reads only pages whose source changed, so an emptied cache alone would leave every unchanged page
  # with the outputs of the old library or mode: drop Sphinx's saved environment too, which re-executes them all.
  if [ -d "$cache" ] || [ -d _build/.doctrees ]; then
    echo "vaelib or the run mode changed since the cached execution: clearing $cache and _build/.doctrees"
  fi
  rm -rf "$cache" _build/.doctrees
fi
mkdir -p _build
echo "$key" > "$cache.key"
start=$(date +%s)
python scripts/sync_notebooks.py .
jupyter-book build . -W --keep-going
echo "book built in $(( $(date +%s) - start )) s: open $root/_build/html/index.html"
