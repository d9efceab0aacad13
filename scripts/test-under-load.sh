#!/usr/bin/env bash
# `make test-under-load`: the timing-sensitive tests (tests/timing_modules.py, marker
# `timing`) ROUNDS times (default 5) with a CPU hog in the background (stress-ng, HOG_CPUS
# workers, default 2), so that a test passing only on a quiet machine shows here rather
# than in CI. The hog is stopped at the end, on a failure and on Ctrl-C too.
# Extra arguments go to pytest (e.g. -x, -k backup_path).
set -uo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-5}"
HOG_CPUS="${HOG_CPUS:-2}"
if ! command -v stress-ng >/dev/null 2>&1; then
  echo "test-under-load: stress-ng is missing (bash scripts/install-debian-deps.sh)" >&2
  exit 2
fi

# Its own session, so that stopping it stops its workers too (they ignore a terminal's
# Ctrl-C: background jobs of a script do).
setsid stress-ng --cpu "$HOG_CPUS" --quiet &
hog=$!
stop_hog() {
  kill -TERM -- "-$hog" 2>/dev/null || kill -TERM "$hog" 2>/dev/null
  wait "$hog" 2>/dev/null
}
trap stop_hog EXIT
trap 'echo "test-under-load: interrupted" >&2; exit 130' INT TERM

read -r -a paths <<< "$(.venv/bin/python tests/timing_modules.py)"
green=0
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS, stress-ng --cpu $HOG_CPUS; load average" \
       "$(cut -d' ' -f1-3 /proc/loadavg)"
  start=$SECONDS
  if .venv/bin/python -m pytest -q -p no:cacheprovider -m timing "${paths[@]}" "$@"; then
    green=$((green + 1))
    verdict=green
  else
    verdict=FAILED
  fi
  echo "== round $round: $verdict in $((SECONDS - start)) s; load average" \
       "$(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "test-under-load: $green of $ROUNDS rounds green"
[ "$green" -eq "$ROUNDS" ]
