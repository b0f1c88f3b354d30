# Sourced by the scenarios that print TAP: t DESCRIPTION COMMAND... runs
# COMMAND and prints "ok N - DESCRIPTION" or "not ok N" with its output;
# tap_end prints "N passed, N failed" and fails if any failed.

n=0
passed=0
failed=0

t() {
    desc=$1
    shift
    n=$((n + 1))
    if "$@" > /tmp/out 2>&1; then
        passed=$((passed + 1))
        echo "ok $n - $desc"
    else
        failed=$((failed + 1))
        echo "not ok $n - $desc"
        sed 's/^/# /' /tmp/out
    fi
}

tap_end() {
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
