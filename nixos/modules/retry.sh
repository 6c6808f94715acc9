#!/usr/bin/env bash
# retry.sh COMMAND [ARG...]: run COMMAND until it succeeds, with exponential
# back-off, a bounded number of times; every failure is logged (journal).
# Used by the migration units, so a host that boots before the database
# answers waits for it instead of failing once and leaving the services down.
#   RETRY_ATTEMPTS   tries in all (default 12)
#   RETRY_DELAY      first wait in seconds (default 2), doubled after each failure
#   RETRY_MAX_DELAY  longest wait (default 60)
# With the defaults the last try starts about 7.5 minutes after the first.
set -u
attempts=${RETRY_ATTEMPTS:-12}
delay=${RETRY_DELAY:-2}
max_delay=${RETRY_MAX_DELAY:-60}
attempt=1
while :; do
  "$@"
  status=$?
  [ "$status" -eq 0 ] && exit 0
  if [ "$attempt" -ge "$attempts" ]; then
    echo "retry: '$*' failed $attempt times (last exit status $status); giving up" >&2
    exit "$status"
  fi
  echo "retry: '$*' failed (exit status $status, attempt $attempt of $attempts), the database may not answer yet; next try in ${delay}s" >&2
  sleep "$delay"
  attempt=$((attempt + 1))
  delay=$((delay * 2))
  [ "$delay" -gt "$max_delay" ] && delay=$max_delay
done
