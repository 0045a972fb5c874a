#!/bin/sh
# GPU truth in one run, on a machine with torch preinstalled and no network: torchup's own wheels
# (make device-wheels) are installed into a venv of their own, then detect, plan, every doctor
# group (distributed with nccl, compile) and a one-node fleet launch with every GPU run against
# that torch, each result saved as JSON in OUT for tests/fixtures/. Plain POSIX sh.
#
#   PYTHON=/path/to/python-with-torch sh tools/device_check.sh
#
# PYTHON          the interpreter that has torch (default: python3)
# TORCHUP_PYTHON  the Python 3.9+ torchup itself runs on (default: PYTHON)
# WHEELS          torchup's wheel and its dependencies (default: build/device-wheels)
# OUT             where the results go (default: build/device-check)
# Each step has a limit, all together under 5 minutes; a step that fails is recorded, and the
# next one still runs. Exit status: 0 when every step ran, 1 when one could not (its error in
# OUT/<step>.err), 2 for bad usage.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
torchup_python=${TORCHUP_PYTHON:-$python}
wheels=${WHEELS:-$here/build/device-wheels}
out=${OUT:-$here/build/device-check}

say() { printf 'device-check: %s\n' "$*" >&2; }

if ! "$python" -c 'import sys' 2>/dev/null; then
    say "PYTHON=$python: not a Python that runs"
    exit 2
fi
if [ ! -d "$wheels" ] || ! ls "$wheels"/torchup-*.whl >/dev/null 2>&1; then
    say "WHEELS=$wheels: no torchup wheel there (make device-wheels prepares it)"
    exit 2
fi
mkdir -p "$out" || exit 2

# A step: its JSON on stdout into OUT/<name>.json, its stderr into OUT/<name>.err, its exit
# status and seconds into the summary. coreutils' timeout keeps each within its limit.
summary=""
failed=0
step() {
    name=$1 limit=$2
    shift 2
    started=$(date +%s)
    if command -v timeout >/dev/null 2>&1; then
        timeout -k 10 "$limit" "$@" >"$out/$name.json" 2>"$out/$name.err"
    else
        "$@" >"$out/$name.json" 2>"$out/$name.err"
    fi
    status=$?
    seconds=$(($(date +%s) - started))
    say "$name: exit $status in ${seconds}s"
    summary="$summary${summary:+, }\"$name\": {\"exit\": $status, \"seconds\": $seconds}"
    # 0 and 1 are results (1: a check failed); anything else means the step could not run.
    [ "$status" -le 1 ] || failed=1
}

venv=$out/torchup-venv
rm -rf "$venv"
if ! "$torchup_python" -m venv "$venv" >"$out/venv.err" 2>&1 ||
    ! "$venv/bin/python" -m pip install --quiet --no-index --find-links "$wheels" torchup >>"$out/venv.err" 2>&1; then
    say "torchup could not be installed from $wheels into $venv (see $out/venv.err)"
    exit 1
fi
torchup=$venv/bin/torchup
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

step detect 30 "$torchup" detect --python "$python" --json
# No network here: the plan comes from the bundled data, for this machine's real driver and GPUs.
step plan 30 "$torchup" plan --python "$python" --offline --json
step doctor 150 "$torchup" doctor --python "$python" --json --check-timeout 120 install tutorial accelerator distributed compile
step fleet 80 "$torchup" fleet launch --python "$python" --nnodes 1 --node-rank 0 --master "127.0.0.1:$port" \
    --out "$out/fleet" --run-timeout 60 --json

version=$("$torchup" --version 2>/dev/null | sed 's/.* //')
printf '{"schema": 1, "torchup": "%s", "python": "%s", "date": "%s", "steps": {%s}}\n' \
    "$version" "$python" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$summary" >"$out/summary.json"
say "results in $out"
exit "$failed"
