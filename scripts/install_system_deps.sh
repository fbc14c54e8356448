#!/usr/bin/env bash
# System packages the tests use: Debian's chromium (browser test) and bubblewrap (grading sandbox).
# Installs them when missing and we are root; otherwise says what is missing (those tests then skip).
set -eo pipefail
# axe-core (npm registry, into .cache/axe-core) for the accessibility browser test
if command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/install_axe.sh" || echo "WARNING: axe-core could not be installed (npm registry)" >&2
fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "WARNING: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or the tests that need them skip" >&2
fi
