#!/usr/bin/env bash
# The whole test suite against a build of fastmlp with AddressSanitizer and
# UndefinedBehaviorSanitizer; fails on any sanitizer report (recipe: shared/RECIPES.md).
#
# The sanitized build goes into a temporary folder put first on PYTHONPATH, with its own
# CMake build folder: the environment's installed fastmlp and build/ are never touched,
# so no other process importing fastmlp meanwhile picks up a build that needs libasan
# preloaded, and nothing has to be reinstalled afterwards.
#
#   scripts/sanitize.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d "${TMPDIR:-/tmp}/fastmlp-sanitize.XXXXXX")"
trap 'rm -rf "$work"' EXIT

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
echo "== building fastmlp with $flags"
python -m pip install --quiet --no-deps --target "$work/site" \
  -Cbuild-dir="$work/build" -Ccmake.build-type=RelWithDebInfo \
  -Ccmake.define.CMAKE_CXX_FLAGS="$flags" .

# libstdc++ is preloaded with libasan, or the first C++ exception aborts in ASan's
# __cxa_throw interceptor. Leak detection stays off: CPython itself holds ~1 MB at exit.
# allocator_may_return_null=1: a request too large to allocate returns NULL as glibc's
# malloc does (MemoryError, which the tests expect) instead of an ASan abort.
# Reports go to files, so that none is lost in pytest's capture or in a child process.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:allocator_may_return_null=1:log_path=$work/report"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/report"
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"

python - "$work/site" <<'PY'
import sys, fastmlp
assert fastmlp.__file__.startswith(sys.argv[1]), f"not the sanitized build: {fastmlp.__file__}"
print("== testing", fastmlp.__file__)
PY

status=0
python -m pytest -q -p no:cacheprovider tests "$@" || status=$?

# With allocator_may_return_null=1 ASan still notes each refused allocation (the
# too-large-request tests make some); that note is the expected MemoryError, not a report.
expected="WARNING: AddressSanitizer failed to allocate"
notes="$(cat "$work"/report.* 2>/dev/null || true)"
reports="$(printf '%s\n' "$notes" | grep -v -e "$expected" -e '^$' || true)"
echo "== refused allocations (expected): $(printf '%s\n' "$notes" | grep -c -e "$expected" || true)"
if [ -n "$reports" ]; then
  echo "== sanitizer reports:"
  printf '%s\n' "$reports"
  status=1
else
  echo "== no sanitizer reports"
fi
echo "== sanitize.sh: $([ "$status" = 0 ] && echo PASSED || echo FAILED)"
exit "$status"
