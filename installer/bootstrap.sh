#!/bin/sh
# torchup's bootstrap: from a machine without a usable Python to a verified PyTorch, in one command.
# Plain POSIX sh, because it must run where nothing else is installed yet. Every decision is
# printed; a failed step removes what this run created and says the step, the cause and the next
# command in one line (exit 1); bad usage is exit 2. Otherwise the exit status is the doctor's.
set -u

usage_text='usage: sh bootstrap.sh [--yes] [--venv DIR] [--variant NAME] [--torch SPEC] [--with NAMES] [--index-base URL] [--bundle DIR]
  Finds (or installs) Python >= 3.9 with ssl and venv, installs torchup into a venv of its own,
  then runs "torchup install --venv DIR --yes" (default DIR: ./.venv) and "torchup doctor".
  --yes (or TORCHUP_YES=1)  run the package manager without asking (needed without a terminal)
  TORCHUP_SPEC              where torchup comes from: a checkout, a wheel path or URL, a package
                            spec (default: the checkout this script is in, else torchup from PyPI)'
step="[0/5] options"
# The next command after most failures is this one again, as it was typed (piped into sh, it has no file to name).
if [ -f "$0" ]; then again="sh $0${*:+ $*}"; else again="the same command"; fi
yes=${TORCHUP_YES:-}
target=.venv
scratch=""
created_tool=""
created_launcher=""
created_target=""
changes=""

say() { printf 'torchup-bootstrap: %s\n' "$*" >&2; }
usage() { say "$1"; printf '%s\n' "$usage_text" >&2; exit 2; }

# Removes what this run created, then one line: the step, the cause, the next command.
fail() {
    removed=""
    [ -n "$created_target" ] && rm -rf "$target" && removed="$removed $target"
    [ -n "$created_launcher" ] && rm -f "$launcher" && removed="$removed $launcher"
    [ -n "$created_tool" ] && rm -rf "$tool" && removed="$removed $tool"
    [ -n "$scratch" ] && rm -rf "$scratch"
    say "$step failed: $1${removed:+; removed$removed}; next: $2"
    exit 1
}
trap 'fail "interrupted" "$again"' INT TERM HUP

count=$#
while [ "$count" -gt 0 ]; do
    arg=$1
    shift
    count=$((count - 1))
    case $arg in
        -y | --yes) yes=1 ;;
        -h | --help) printf '%s\n' "$usage_text"; exit 0 ;;
        --venv=*) target=${arg#--venv=} ;;
        --variant=* | --torch=* | --with=* | --index-base=* | --bundle=*) set -- "$@" "$arg" ;;
        --venv | --variant | --torch | --with | --index-base | --bundle)
            [ "$count" -gt 0 ] || usage "$arg needs a value"
            if [ "$arg" = --venv ]; then target=$1; else set -- "$@" "$arg" "$1"; fi
            shift
            count=$((count - 1))
            ;;
        *) usage "unknown option: $arg" ;;
    esac
done
# "$@" now holds the options passed on to `torchup install`.
[ -n "${HOME:-}" ] || usage "HOME is not set: torchup's own venv goes under it"
case $yes in 1 | yes | true) yes=1 ;; *) yes="" ;; esac
data=${XDG_DATA_HOME:-$HOME/.local/share}/torchup
tool=$data/venv
bin_dir=${XDG_BIN_HOME:-$HOME/.local/bin}
launcher=$bin_dir/torchup
scratch=$(mktemp -d) || fail "no temporary directory" "check TMPDIR"

# What torchup itself needs from an interpreter; written for Python 2 too, so that it can say "too old".
probe='import sys
if sys.version_info < (3, 9): sys.exit("too old (%d.%d)" % sys.version_info[:2])
try:
    import ssl
except ImportError: sys.exit("no ssl module (Python built without OpenSSL)")
try:
    import venv, ensurepip
    ensurepip.version()
except Exception: sys.exit("no venv support (ensurepip is missing)")
print("Python %d.%d, %s, venv" % (sys.version_info[0], sys.version_info[1], ssl.OPENSSL_VERSION))'

# Sets $python to the first interpreter that passes the probe, saying why each other one was
# refused; $tried lists them all.
find_python() {
    python=""
    tried=" "
    for name in python3 python3.14 python3.13 python3.12 python3.11 python3.10 python3.9; do
        for candidate in "$(command -v "$name")" "/usr/local/bin/$name" "/usr/bin/$name" "/opt/homebrew/bin/$name"; do
            [ -x "$candidate" ] || continue
            case $tried in *" $candidate "*) continue ;; esac
            tried="$tried$candidate "
            if verdict=$("$candidate" -c "$probe" 2>&1); then
                python=$candidate
                say "$step: took $candidate: $verdict"
                return 0
            fi
            say "$step: refused $candidate: $(printf '%s\n' "$verdict" | tail -n 1)"
        done
    done
    return 1
}

# Sets $system_command to what installs Python with venv support and the CA store here, and
# $as_root to how it runs ("" as root, "sudo " otherwise); returns 1 when no package manager is known.
package_command() {
    if command -v apt-get > /dev/null; then
        system_command="apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv ca-certificates"
    elif command -v dnf > /dev/null || command -v yum > /dev/null; then
        manager=$(command -v dnf > /dev/null && echo dnf || echo yum)
        # The newest python3.X the repositories carry: these link the system's OpenSSL.
        package=python3
        for minor in 14 13 12 11 10 9; do
            if "$manager" -q list "python3.$minor" > /dev/null 2>&1; then package=python3.$minor; break; fi
        done
        system_command="$manager install -y $package ca-certificates"
    elif command -v zypper > /dev/null; then
        package=python3
        for minor in 14 13 12 11 10 9; do
            if zypper -q search -x "python3$minor" > /dev/null 2>&1; then package=python3$minor; break; fi
        done
        system_command="zypper --non-interactive install $package ca-certificates"
    elif command -v apk > /dev/null; then
        system_command="apk add python3 py3-pip ca-certificates"
    elif command -v pacman > /dev/null; then
        system_command="pacman -S --noconfirm --needed python ca-certificates"
    elif command -v brew > /dev/null; then
        system_command="brew install python3"
        as_root=""
        return 0
    else
        return 1
    fi
    if [ "$(id -u)" = 0 ]; then as_root=""; elif command -v sudo > /dev/null; then as_root="sudo "; else as_root="-"; fi
}

# Asks before a system change, unless --yes; with no terminal to ask, refuses.
confirm() {
    [ -n "$yes" ] && return 0
    (true < /dev/tty) 2> /dev/null || fail "it would run '$1' but there is no terminal to ask" "$again --yes (or with TORCHUP_YES=1)"
    printf 'torchup-bootstrap: run it? [y/N] ' >&2
    read -r answer < /dev/tty
    case $answer in y* | Y*) return 0 ;; esac
    fail "you declined '$1'" "run it yourself, then $again"
}

# The system's CA store, where every download here should be verified against (a site's root CA,
# installed the system's way, lands in it); empty when there is none.
system_ca() {
    for bundle in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/ca-bundle.pem /etc/ssl/cert.pem; do
        [ -f "$bundle" ] && return 0
    done
    bundle=""
}

# uv and torchup's own requests take SSL_CERT_FILE: the system's store, unless the user chose one.
use_system_ca() {
    [ -n "${SSL_CERT_FILE:-}" ] && return 0
    system_ca
    [ -n "$bundle" ] || return 0
    export SSL_CERT_FILE="$bundle"
    say "$step: uv and torchup verify downloads with the system's CA store, $bundle (SSL_CERT_FILE)"
}

# The value pip's configuration (files and PIP_* variables) gives setting $2 for interpreter $1.
pip_setting() {
    "$1" -m pip config list 2> /dev/null | sed -n "s/^[^=]*\.$2='\(.*\)'$/\1/p" | tail -n 1
}

# pip verifies with its own copy of certifi, which knows no site CA: unless the user chose a CA
# file for pip ($1's pip configuration or PIP_CERT), pip gets the system's store.
pip_uses_system_ca() {
    [ -n "${PIP_CERT:-}" ] && return 0
    pip_cert=$(pip_setting "$1" cert)
    if [ -n "$pip_cert" ]; then
        say "$step: pip's own CA setting ($pip_cert) stays"
        return 0
    fi
    system_ca
    [ -n "$bundle" ] || return 0
    export PIP_CERT="$bundle"
    say "$step: pip verifies downloads with the system's CA store, $bundle (PIP_CERT)"
}

# Gets a uv-managed Python 3.12 with uv (on PATH, else from PyPI through any pip here); returns 1
# when there is no uv to be had.
uv_python() {
    uv=$(command -v uv) || uv=""
    if [ -z "$uv" ]; then
        for candidate in $tried; do
            "$candidate" -m pip --version > /dev/null 2>&1 || continue
            pip_uses_system_ca "$candidate"
            say "$step: $why; uv from PyPI with $candidate's pip: $candidate -m pip install --target $scratch/uv uv"
            "$candidate" -m pip install -q --target "$scratch/uv" uv && uv=$scratch/uv/bin/uv && break
        done
    fi
    [ -n "$uv" ] || return 1
    say "$step: $why; a uv-managed Python: $uv python install 3.12 (uv's mirror: UV_PYTHON_INSTALL_MIRROR=${UV_PYTHON_INSTALL_MIRROR:-unset})"
    { "$uv" python install 3.12 && python=$("$uv" python find 3.12) && verdict=$("$python" -c "$probe" 2>&1); } ||
        fail "uv python install 3.12 failed (its output is above)" "set UV_PYTHON_INSTALL_MIRROR to a mirror of python-build-standalone, then $again"
    changes="$changes, Python (uv)"
    say "$step: took $python: $verdict"
}

step="[1/5] find Python"
if ! find_python; then
    step="[2/5] get Python"
    use_system_ca
    if ! package_command; then
        why="no package manager torchup knows"
    elif [ "$as_root" = - ]; then
        why="not root, and no sudo"
    else
        say "$step: none of these will do; this runs: ${as_root}sh -c '$system_command'"
        confirm "$system_command"
        # shellcheck disable=SC2086 # $as_root is nothing, or sudo
        $as_root sh -c "$system_command" || fail "the package manager failed (its output is above)" "${as_root}sh -c '$system_command'"
        changes="$changes, Python (package manager)"
        step="[1/5] find Python"
        find_python || step="[2/5] get Python"
        why="the package manager has no Python >= 3.9"
    fi
    if [ -z "$python" ] && ! uv_python; then
        if [ "${as_root:-}" = - ]; then next="as root: $system_command"; else next="curl -LsSf https://astral.sh/uv/install.sh | sh"; fi
        fail "no Python >= 3.9 with ssl and venv: $why, and no uv (nor a pip to get it with) to get one" "$next, then $again"
    fi
else
    say "[2/5] get Python: not needed"
fi

step="[3/5] install torchup"
use_system_ca
checkout=$(cd "$(dirname "$0")/.." 2> /dev/null && pwd)
if [ -n "${TORCHUP_SPEC:-}" ]; then
    spec=$TORCHUP_SPEC
elif [ -f "$0" ] && grep -qs '^name = "torchup"' "$checkout/pyproject.toml"; then
    spec=$checkout
else
    spec=torchup
fi
# What the tool venv was made from, so that a second run with the same source changes nothing.
if [ -d "$spec" ]; then
    fingerprint=$(find "$spec/pyproject.toml" "$spec/torchup" "$spec/installer" "$spec/diagnostics" -type f ! -name '*.pyc' -exec cksum {} + 2> /dev/null | sort | cksum)
elif [ -f "$spec" ]; then
    fingerprint=$(cksum < "$spec")
else
    fingerprint=$spec
fi
source_line="$spec $fingerprint"
if [ -x "$tool/bin/torchup" ] && [ "$(cat "$tool/torchup-source" 2> /dev/null)" = "$source_line" ]; then
    say "$step: $tool already holds torchup from $spec: unchanged"
else
    if [ -e "$tool" ]; then
        say "$step: $tool holds torchup from another source ($(cut -d' ' -f1 "$tool/torchup-source" 2> /dev/null || echo unknown)): making it again"
        rm -rf "$tool"
    fi
    say "$step: a venv of its own, $tool, from $python; torchup from $spec"
    created_tool=1
    "$python" -m venv "$tool" || fail "$python -m venv $tool failed (its output is above)" "$python -m venv $tool"
fi
pip_uses_system_ca "$tool/bin/python"

# A site root CA missing from the store fails every download; find out once, before pip retries.
index=$(pip_setting "$tool/bin/python" index-url)
case $(pip_setting "$tool/bin/python" no-index) in 1 | true | yes | on) index=none ;; esac  # pip reads no index at all
index_base=${TORCHUP_INDEX_BASE:-https://download.pytorch.org/whl}
bundle_given=""
previous=""
for arg in "$@"; do
    case $previous in --index-base) index_base=$arg ;; --bundle) bundle_given=1 ;; esac
    case $arg in --index-base=*) index_base=${arg#*=} ;; --bundle=*) bundle_given=1 ;; esac
    previous=$arg
done
[ -n "$bundle_given" ] && index_base=""
cafile=${PIP_CERT:-${pip_cert:-}}
# shellcheck disable=SC2016 # Python source, not shell
untrusted=$("$tool/bin/python" -c '
import ssl, sys, urllib.error, urllib.request
context = ssl.create_default_context(cafile=sys.argv[1] or None)
for url in [url for url in sys.argv[2:] if url.startswith("https://")]:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10, context=context).close()
    except urllib.error.URLError as error:
        if isinstance(error.reason, ssl.SSLCertVerificationError):
            print("%s (%s)" % (url, error.reason.verify_message))
            break
    except Exception:
        pass  # unreachable: pip and torchup say so in their own words
' "$cafile" "${index:-https://pypi.org/simple/}" "$index_base" "$spec" 2> /dev/null)
if [ -n "$untrusted" ]; then
    if command -v update-ca-trust > /dev/null; then
        add_ca="cp SITE-ROOT-CA.crt /etc/pki/ca-trust/source/anchors/ && update-ca-trust"
    else
        add_ca="cp SITE-ROOT-CA.crt /usr/local/share/ca-certificates/ && update-ca-certificates"
    fi
    fail "certificate verify failed for $untrusted with ${cafile:-the default CA store}: this network's TLS is signed by a root CA this machine does not trust" \
        "as root, $add_ca (or point PIP_CERT and SSL_CERT_FILE at that CA file), then $again"
fi

if [ -n "$created_tool" ]; then
    "$tool/bin/python" -m pip install -q --disable-pip-version-check "$spec" || fail "pip could not install torchup from $spec (its error is above)" "$again"
    printf '%s\n' "$source_line" > "$tool/torchup-source"
    changes="$changes, torchup's venv $tool"
fi
if [ -L "$launcher" ] && [ "$(readlink "$launcher")" = "$tool/bin/torchup" ]; then
    say "$step: launcher $launcher: unchanged"
elif [ -e "$launcher" ] || [ -L "$launcher" ]; then
    say "$step: $launcher is another torchup, left as it is; this one is $tool/bin/torchup"
else
    { mkdir -p "$bin_dir" && ln -s "$tool/bin/torchup" "$launcher"; } || fail "cannot write $launcher" "mkdir -p $bin_dir"
    created_launcher=1
    changes="$changes, launcher $launcher"
    say "$step: launcher $launcher"
fi
case ":$PATH:" in
    *":$bin_dir:"*) ;;
    *) say "$step: $bin_dir is not on PATH; to run torchup by name: export PATH=\"$bin_dir:\$PATH\"" ;;
esac

step="[4/5] torchup install"
[ -e "$target" ] || created_target=1
say "$step: torchup install --venv $target --yes $*"
"$tool/bin/torchup" install --venv "$target" --yes --json "$@" > "$scratch/install.json"
installed=$?
# shellcheck disable=SC2016 # Python source, not shell
outcome=$("$tool/bin/python" -c '
import json, sys
result = json.load(open(sys.argv[1]))
print(result["status"])
print(" ".join(part for part in (result.get("error"), result.get("hint")) if part))
' "$scratch/install.json" 2> /dev/null)
status=$(printf '%s\n' "$outcome" | sed -n 1p)
if [ "$installed" != 0 ]; then
    fail "$(printf '%s\n' "$outcome" | sed -n 2p | grep . || echo "torchup exited with $installed")" "$again"
fi
created_tool=""
created_launcher=""
created_target=""
[ "$status" = already-installed ] || changes="$changes, the target $target"

step="[5/5] torchup doctor"
say "$step: torchup doctor --python $target"
"$tool/bin/torchup" doctor --python "$target"
doctor=$?
rm -rf "$scratch"
if [ -n "$changes" ]; then
    say "changed: ${changes#, }"
else
    say "nothing changed: Python, torchup ($tool) and the target ($target) were already in place"
fi
exit "$doctor"
