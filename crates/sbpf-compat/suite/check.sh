#!/usr/bin/env bash
# Runs solana-sbpf 0.26.0's suite against the drop-in and checks that exactly the tests of
# known-failures.txt fail (each is listed with its reason). Prints the totals.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
log="$(mktemp)"
cargo test --release --locked --no-fail-fast "$@" >"$log" 2>&1
status=$?
failed="$(mktemp)"
current=""
while IFS= read -r line; do
  case "$line" in
    *"Running tests/"*) current="$(sed -E 's|.*Running tests/([a-z_]+)\.rs.*|\1|' <<<"$line")" ;;
    "test "*" ... FAILED") name="${line#test }"; echo "$current::${name% ... FAILED}" >>"$failed" ;;
  esac
done <"$log"
expected="$(grep -v '^#' known-failures.txt | grep -v '^$' | sort)"
got="$(sort "$failed")"
passed=$(grep -E '^test result' "$log" | sed -E 's/.* ([0-9]+) passed.*/\1/' | awk '{ sum += $1 } END { print sum }')
nfailed=$(grep -c . "$failed" || true)
echo "sbpf suite on the drop-in: $passed passed; $nfailed known failures (known-failures.txt)"
if [ "$got" != "$expected" ]; then
  echo "error: the failing tests differ from known-failures.txt" >&2
  diff <(echo "$expected") <(echo "$got") >&2
  tail -60 "$log" >&2
  exit 1
fi
if [ "$status" -ne 0 ] && [ -z "$got" ]; then
  tail -60 "$log" >&2
  exit "$status"
fi
