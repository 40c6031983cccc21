#!/bin/sh
# npm audit of production dependencies: fails on high/critical advisories. When the registry's
# advisory endpoint cannot be reached (some mirrors refuse it with 405), says so loudly and does not
# pretend the audit passed.
set -u
out=$(npm audit --omit=dev --audit-level=high 2>&1); rc=$?
echo "$out"
case "$rc:$out" in
  0:*) ;;
  *"audit endpoint returned an error"*)
    echo "WARNING: npm audit could not run: the registry's advisory endpoint is unavailable here. NOT AUDITED." >&2
    exit 0
    ;;
esac
exit $rc
