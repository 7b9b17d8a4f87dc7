# Sourced by scripts/run-python-tests.sh and scripts/run-redis-tests.sh: turns a pytest
# run into the "N passed, N failed, N skipped" line scripts/run-tests.sh reads.
#
#   pytest_summary LABEL JUNIT_XML PYTEST_STATUS SANITIZER_LOG_PREFIX
#
# Counts come from pytest's JUnit XML. Every sanitizer report file named
# SANITIZER_LOG_PREFIX.* counts as a failure, a run of no tests fails, and so does a
# non-zero exit without a failed test (a crash of the interpreter or a fixture). Returns
# 0 only when nothing failed.
pytest_summary() {
  local label=$1 report=$2 status=$3 sanitizer_log=$4
  local counts ok bad skip total report_file
  counts=$(/usr/bin/python3 - "$report" <<'PY'
import sys
import xml.etree.ElementTree as tree
try:
    root = tree.parse(sys.argv[1]).getroot()
except Exception:
    print("0 0 0 0")
    raise SystemExit
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped, tests)
PY
)
  read -r ok bad skip total <<<"$counts"
  for report_file in "$sanitizer_log".*; do
    [ -e "$report_file" ] || continue
    echo "$label: a sanitizer report ($report_file):"
    head -40 "$report_file"
    bad=$((bad + 1))
  done
  if [ "$total" -eq 0 ]; then
    echo "$label: pytest ran no tests (exit status $status)"
    bad=$((bad + 1))
  elif [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
    echo "$label: pytest exited with status $status without a failed test (a crash?)"
    bad=1
  fi
  echo "$ok passed, $bad failed, $skip skipped"
  [ "$bad" -eq 0 ]
}
