#!/usr/bin/env bash
# The GitHub Action's first step (action.yml): torchup in a venv of its own under the runner's
# temporary directory, never in the interpreter PyTorch goes into, which may be externally managed
# (PEP 668) or too old for torchup. The venv is made by the first Python 3.9 or newer with venv
# support on PATH (a venv is fine beside an externally managed Python); a later use of the action
# in the same job reuses it. Its python is the step's output "python".
set -u
tool=${RUNNER_TEMP:?is set by GitHub Actions for every job}/torchup/tool
action=${TORCHUP_ACTION_PATH:?is set by action.yml}

say() { printf 'torchup action: %s\n' "$*"; }
stop() {
    say "$1"
    printf '::error title=torchup action::%s\n' "$1"
    exit 1
}
tool_python() { if [ -d "$tool/Scripts" ]; then printf '%s\n' "$tool/Scripts/python.exe"; else printf '%s\n' "$tool/bin/python"; fi; }

# What torchup itself needs of an interpreter. Run with -I, as everything here is: a json.py or a
# venv/ in the workspace (the current directory) is never imported.
probe='import sys
if sys.version_info < (3, 9): sys.exit("too old (%d.%d)" % sys.version_info[:2])
try:
    import ensurepip, venv
    ensurepip.version()
except Exception: sys.exit("no venv support (ensurepip is missing)")
print("Python %d.%d" % sys.version_info[:2])'

if [ "$(cat "$tool/torchup-source" 2> /dev/null)" = "$action" ] && [ -x "$(tool_python)" ]; then
    say "torchup's own venv $tool is there already, with torchup from $action"
else
    python=""
    for name in python3 python3.14 python3.13 python3.12 python3.11 python3.10 python3.9 python; do
        candidate=$(command -v "$name") || continue
        if verdict=$("$candidate" -I -c "$probe" 2>&1); then
            python=$candidate
            break
        fi
        say "refused $candidate for torchup's own venv: $(printf '%s\n' "$verdict" | head -n 1)"
    done
    [ -n "$python" ] || stop "no Python 3.9 or newer with venv support on PATH to run torchup: put actions/setup-python before this action, or install python3-venv"
    say "torchup's own venv $tool, from $python ($verdict); torchup from $action"
    rm -rf "$tool"
    "$python" -I -m venv "$tool" || stop "$python -m venv $tool failed (its error is above)"
    echo "::group::pip install torchup"
    if ! "$(tool_python)" -I -m pip install --disable-pip-version-check --progress-bar off "$action"; then
        echo "::endgroup::"
        rm -rf "$tool"
        stop "pip could not install torchup from $action into $tool (its error is above)"
    fi
    echo "::endgroup::"
    printf '%s\n' "$action" > "$tool/torchup-source"
fi
printf 'python=%s\n' "$(tool_python)" >> "${GITHUB_OUTPUT:?is set by GitHub Actions for every step}"
