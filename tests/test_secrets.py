"""Credentials are hidden by parsing, whatever they hold: properties over passwords drawn from every
printable character (quotes, spaces, backslashes, "@", "/", non-ASCII), first of the rules
themselves, then of every command and output format, run for real."""

import html
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, isolated_env
from torchup.diagnostics import probe
from torchup.installer.outcome import escape_markdown
from torchup.installer.redact import MASK, Secrets, hide_shapes, redact_value, secrets_in, secrets_in_environment

# What str.isprintable() admits: no control, format, surrogate, private or unassigned characters,
# no separators but the space.
PRINTABLE = st.one_of(st.just(" "), st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")))
passwords = st.text(PRINTABLE, min_size=1, max_size=20)
words = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Z")), min_size=1, max_size=20)
users = st.from_regex(r"[A-Za-z0-9._-]{1,10}", fullmatch=True)
hosts = st.sampled_from(["mirror.example", "10.0.0.1", "[::1]", "[fe80::1%25eth0]", "localhost"])
ports = st.sampled_from(["", ":3128", ":8443"])
paths = st.sampled_from(["", "/", "/whl/cpu", "/simple/torch/"])


@settings(max_examples=500)
@given(users, passwords, hosts, ports, paths)
@example("user", 'pa"ss', "mirror.example", "", "/simple")
@example("user", "pa'ss", "mirror.example", "", "/simple")
@example("user", "two words", "mirror.example", "", "/simple")
@example("user", 'json \\"escaped\\"', "mirror.example", "", "/simple")
@example("user", "p@ss/w0rd@x", "[::1]", ":3128", "")
def test_a_value_is_parsed_whole_whatever_its_password_holds(user, password, host, port, path):
    url, proxy = f"https://{user}:{password}@{host}{port}{path}", f"{user}:{password}@{host}{port}"
    assert redact_value(url) == probe.redact_value(url) == f"https://{MASK}@{host}{port}{path}"
    assert redact_value(proxy) == probe.redact_value(proxy) == f"{MASK}@{host}{port}"
    # pip splits a list setting on white space; a password holding one stays in its item.
    assert probe.list_items(f"https://pypi.example/simple {url} /srv/wheels") == ["https://pypi.example/simple", url, "/srv/wheels"]
    assert f"{user}:{password}" in secrets_in(url) and password in secrets_in(proxy)


@settings(max_examples=500)
@given(users, passwords, hosts, ports, paths, st.booleans())
@example("user", 'pa"ss', "mirror.example", "", "/simple", True)
@example("user", "two words", "[::1]", ":3128", "", False)
def test_in_json_a_password_is_hidden_whatever_it_holds(user, password, host, port, path, ascii_only):
    document = {"index_url": f"https://{user}:{password}@{host}{port}{path}", "HTTPS_PROXY": f"{user}:{password}@{host}{port}", "note": "see a@b.example"}
    shown = {"index_url": f"https://{MASK}@{host}{port}{path}", "HTTPS_PROXY": f"{MASK}@{host}{port}", "note": "see a@b.example"}
    for indent in (None, 2):
        text = json.dumps(document, indent=indent, ensure_ascii=ascii_only)
        assert hide_shapes(text) == probe.redact(text) == json.dumps(shown, indent=indent, ensure_ascii=ascii_only)
        # JSON inside a JSON string: the escapes of the escapes.
        nested = json.dumps({"log": text})
        assert hide_shapes(nested) == json.dumps({"log": json.dumps(shown, indent=indent, ensure_ascii=ascii_only)})


@settings(max_examples=500)
@given(users, words, hosts, ports, paths)
@example("user", 'pa"ss', "mirror.example", "", "/simple")
@example("user", "'a:b@c'", "mirror.example", "", "/simple")
@example("user", 'a"b:c@d', "[::1]", ":3128", "")
def test_in_text_a_password_without_white_space_is_hidden_whatever_it_holds(user, password, host, port, path):
    """Bare in text, nothing says where a password with a space would end: that takes knowing it (below)."""
    text = f"index-url = https://{user}:{password}@{host}{port}{path}  (from PIP_INDEX_URL)\nHTTPS_PROXY = {user}:{password}@{host}{port}\n"
    shown = f"index-url = https://{MASK}@{host}{port}{path}  (from PIP_INDEX_URL)\nHTTPS_PROXY = {MASK}@{host}{port}\n"
    assert hide_shapes(text) == probe.redact(text) == shown


def written_out(secret):
    """The ways torchup's formats write a string: text, JSON (both ways, and in JSON), repr, HTML, XML, Markdown, percent-encoded, an annotation."""
    return [
        f"index-url = {secret}  (from PIP_INDEX_URL)",
        json.dumps({"value": secret}),
        json.dumps({"value": secret}, ensure_ascii=False),
        json.dumps({"log": json.dumps({"HF_TOKEN": secret})}),
        repr(secret),
        html.escape(secret),
        escape_markdown(secret),
        quote(secret, safe=""),
        secret.replace("%", "%25").replace("\n", "%0A"),
    ]


@settings(max_examples=500)
@given(users, passwords, passwords)
@example("user", "two words", "hf secret 'quoted'")
def test_a_known_secret_is_hidden_however_it_is_written(user, password, token):
    """What the environment holds is known: a password of any characters is hidden in every form,
    bare text with spaces included. Markers around it show any piece of it left behind."""
    password, token = f"Qz1{password}Vx1", f"Qz2{token}Vx2"
    known = Secrets()
    known.remember(secrets_in_environment({"PIP_INDEX_URL": f"https://{user}:{password}@mirror.example/simple", "HF_TOKEN": token, "HOME": "/root"}))
    for secret in (f"https://{user}:{password}@mirror.example/simple", password, token, f"{user}:{password}"):
        for text in written_out(secret):
            shown = hide_shapes(known.hide(text))
            assert not any(marker in shown for marker in ("Qz1", "Vx1", "Qz2", "Vx2")), (text, shown)


# --- every command, every format -------------------------------------------------------------

# A site check that shows what the job's environment holds, in its evidence (as JSON), its fix and its output.
SITE_CHECK = """
import json, os
from torchup.diagnostics.checks import check, outcome


@check("site.sources", "the index, proxy and token this job uses", needs_torch=False)
def sources(context):
    seen = dict((name, os.environ.get(name)) for name in ("PIP_INDEX_URL", "HTTPS_PROXY", "HF_TOKEN"))
    print(seen)
    return outcome("warn", json.dumps(seen), ["pip install --index-url %s torch" % seen["PIP_INDEX_URL"]], "https://docs.example/")
"""


def report_of_another_node(secrets) -> dict:
    """A ``doctor --json`` file holding what this environment holds, as a site check printed it.
    (A password torchup never saw come in, holding white space and written bare in text, cannot be
    told from the words after it: a node's own torchup hides its secrets before it writes its file.)"""
    evidence = "; ".join(secrets)
    return {"schema": 1, "python": "/usr/bin/python3", "torch": "2.13.0+cpu", "results": [{"id": "site.sources", "status": "warn", "evidence": evidence}]}


def every_output(torch_python, work: Path, index_base: str, env: dict, secrets) -> list:
    """Every command that could show a secret, in every format, each run once: their stdout and stderr, and every file they wrote."""
    out = work / "out"
    out.mkdir()
    (work / "site_checks.py").write_text(SITE_CHECK)
    (work / "node-a.json").write_text(json.dumps(report_of_another_node(secrets)))
    project = work / "project"
    project.mkdir()
    import tomlkit

    document = tomlkit.document()
    document["project"] = {"name": "demo", "version": "1.0", "requires-python": ">=3.11", "dependencies": ["torch"]}
    document["tool"] = {"uv": {"index": [{"name": "mirror", "url": index_base, "explicit": True}], "sources": {"torch": {"index": "mirror"}}}}
    (project / "pyproject.toml").write_text(tomlkit.dumps(document))
    python = ["--python", str(torch_python)]
    doctor = ["doctor", *python, "--extra-checks", str(work / "site_checks.py"), "site.sources", "install.numpy"]
    offline_plan = ["--offline", "--no-gpu", "--index-base", index_base]
    runs = [
        ["detect", *python],
        ["detect", *python, "--json"],
        ["-v", "plan", *python, *offline_plan],
        ["plan", *python, *offline_plan, "--json"],
        ["plan", *python, "--offline", "--no-gpu", "--index-base", index_base + "\x01"],  # bad input: its message quotes the value
        ["install", "--dry-run", "--venv", str(out / "venv"), "--installer", "uv", *offline_plan, "--json"],
        ["fix", *python],
        ["fix", *python, "--json"],
        ["fix", *python, "--mirror", "ftp" + index_base[index_base.index(":") :]],  # bad input: not an http(s) URL
        ["-v", *doctor],
        [*doctor, "--json", "--junit", str(out / "doctor.xml")],
        [*doctor, "--markdown"],
        ["fleet", "report", str(work / "node-a.json"), "--json", "--junit", str(out / "fleet.xml"), "--html", str(out / "fleet.html")],
        ["fleet", "report", str(work / "node-a.json"), "--markdown"],
        ["project", "init", str(project), "--tool", "uv", "--index-base", index_base, "--offline", "--dry-run"],
        ["project", "check", str(project)],
        ["bundle", "-o", str(out / "bundle"), "--os", "linux", "--arch", "x86_64", "--python-version", "3.12", "--no-gpu", "--index-base", index_base],
    ]
    shown = []
    for argv in runs:
        result = subprocess.run([sys.executable, "-m", "torchup", *argv], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        assert "internal error" not in result.stderr, (argv, result.stderr)
        shown.append((argv[:2], result.stdout + result.stderr))
    shown += [(path.name, path.read_text(errors="replace")) for path in sorted(out.rglob("*")) if path.is_file()]
    return shown


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(passwords, min_size=5, max_size=5))
@example(['pa"ss', "pa'ss", "two words", 'json \\"escaped\\"', "p@ss/w0rd"])
def test_no_command_shows_a_password_in_any_output_format(torch_python, generated):
    """Five passwords, each where a secret enters: --index-base, PIP_INDEX_URL, a scheme-less HTTPS_PROXY
    with an IPv6 host, a *_TOKEN variable and a pip.conf. Each is wrapped in markers, so any piece
    of one left in any output shows."""
    secret = [f"Qz{number}{password}Vx{number}" for number, password in enumerate(generated)]
    markers = [marker for number in range(5) for marker in (f"Qz{number}", f"Vx{number}")]
    import tempfile

    work = Path(tempfile.mkdtemp())
    (work / "pip.conf").write_text(f"[global]\nextra-index-url = https://conf:{secret[4]}@mirror.example/simple\n", encoding="utf-8")
    index_base = f"http://ci:{secret[0]}@127.0.0.1:9/whl"
    env = isolated_env(
        PIP_CONFIG_FILE=str(work / "pip.conf"),
        PIP_INDEX_URL=f"https://pip:{secret[1]}@mirror.example/simple",
        HTTPS_PROXY=f"proxy:{secret[2]}@[::1]:3128",
        HF_TOKEN=secret[3],
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(work / "out" / "summary.md"),
        UV_HTTP_RETRIES="0",
    )
    env.pop("VIRTUAL_ENV", None)
    try:
        for where, text in every_output(torch_python, work, index_base, env, [env["PIP_INDEX_URL"], env["HTTPS_PROXY"], secret[3]]):
            left = [marker for marker in markers if marker in text]
            assert not left, (where, left, text)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
