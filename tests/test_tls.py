"""uv behind a corporate CA: an HTTPS index on 127.0.0.1 signed by a test CA that only pip's
configuration names. What works with pip works with uv, because torchup hands uv pip's CA.

And the TLS findings' word against the tools: with a CA setting that names a missing file, or an
https:// proxy URL, pip, uv and urllib fetch from that index, and exactly the ones the finding
names fail."""

import http.server
import os
import ssl
import subprocess
import sys
import threading

import pytest

from tests.conftest import REPO, isolated_env, serve_download_and_pypi


def openssl(*argv, cwd):
    subprocess.run(["openssl", *argv], cwd=cwd, check=True, capture_output=True, timeout=120)


@pytest.fixture
def test_ca(tmp_path):
    """A CA, and a certificate it signed for 127.0.0.1."""
    where = tmp_path / "pki"
    where.mkdir()
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=torchup test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=where,
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=where)
    (where / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=where,
    )
    return where


@pytest.fixture
def https_index(tmp_path, test_ca, wheelhouse):
    from tests.conftest import LocalIndex

    root = tmp_path / "served"
    plain = LocalIndex(root)  # lays out the pages; served below over TLS instead
    plain.close()
    serve_download_and_pypi(plain, sorted(wheelhouse.glob("*.whl")))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(test_ca / "server.pem", test_ca / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("with_ca", [True, False], ids=["ca-in-pip-conf", "no-ca"])
def test_uv_gets_the_ca_that_pip_is_configured_with(https_index, test_ca, tmp_path, with_ca):
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nindex-url = {https_index}/pypi\n" + (f"cert = {test_ca / 'ca.pem'}\n" if with_ca else ""))
    env = isolated_env(PIP_CONFIG_FILE=str(config), HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    venv = tmp_path / "venv"
    result = subprocess.run(
        [sys.executable, "-m", "torchup", "install", "--venv", str(venv), "--installer", "uv", "--index-base", https_index + "/whl", "--no-gpu", "--yes"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    if with_ca:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Installed with uv" in result.stdout
    else:
        assert result.returncode == 1, result.stderr[-3000:]
        assert not venv.exists()


# --- what a finding says each tool does, checked against the tools -----------------------------

TOOLS = ("pip", "uv", "urllib")
# How a finding's "you would see" names the tools that fail; a claim about uv as `torchup install`
# runs it (with pip's cert handed on) is not one about a plain uv.
CLAIMED = {"pip": {"pip"}, "pip and requests": {"pip"}, "uv": {"uv"}, "urllib": {"urllib"}}
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def failing_tools(index: str, env: dict, scratch, tools=TOOLS) -> set:
    """Which of ``tools`` (pip, uv, this interpreter's urllib) fail to fetch a page of ``index`` in ``env``."""
    page = f"{index}/pypi/filelock/"
    runs = {
        "pip": [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(scratch / "pip"), "--index-url", index + "/pypi", "--retries", "0", "filelock"],
        "uv": [sys.executable, "-m", "uv", "pip", "compile", "--no-cache", "--index-url", index + "/pypi", "--python", sys.executable, "-"],
        "urllib": [sys.executable, "-c", f"import urllib.request; urllib.request.urlopen({page!r}, timeout=30)"],
    }
    failed = set()
    for tool in tools:
        completed = subprocess.run(runs[tool], input="filelock\n", capture_output=True, text=True, env=env, timeout=120)
        if completed.returncode != 0:
            failed.add(tool)
    return failed


def claimed_tools(env: dict, finding_id: str) -> set:
    """The tools the findings with ``finding_id`` say fail, for this interpreter in ``env``."""
    from torchup.installer.detect import detect
    from torchup.installer.findings import find
    from torchup.installer.host import Host

    claims = set()
    for finding in find(detect(sys.executable, Host(env=env))):
        if finding.id == finding_id:
            for said in finding.seen.split("; "):
                claims |= CLAIMED.get(said.split(": ", 1)[0], set())
    return claims


@pytest.fixture
def trusting_env(tmp_path, test_ca):
    """Every tool trusts the test CA through a certificate directory (hashed, as OpenSSL reads one), and nothing else is set."""
    hashed = tmp_path / "ca-dir"
    hashed.mkdir()
    (hashed / "test-ca.pem").write_bytes((test_ca / "ca.pem").read_bytes())
    openssl("rehash", str(hashed), cwd=tmp_path)
    env = isolated_env(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", HOME=str(tmp_path), UV_NO_CONFIG="1", UV_HTTP_RETRIES="0")
    for variable in CA_VARIABLES:
        env.pop(variable, None)
    return dict(env, SSL_CERT_DIR=str(hashed))


MISSING_CA_SETTINGS = [
    ({"SSL_CERT_FILE": "gone.pem"}, TOOLS),  # SSL_CERT_DIR still holds the roots: nothing breaks
    ({"SSL_CERT_DIR": "gone", "SSL_CERT_FILE": "pki/ca.pem"}, TOOLS),  # the file holds them
    # Both lead nowhere: pip then reads the distribution's own bundle, which holds no test CA.
    ({"SSL_CERT_FILE": "gone.pem", "SSL_CERT_DIR": "gone"}, ("uv", "urllib")),
    ({"REQUESTS_CA_BUNDLE": "gone.pem"}, TOOLS),
    ({"CURL_CA_BUNDLE": "gone.pem"}, TOOLS),
    ({"PIP_CERT": "gone.pem"}, TOOLS),
]


@pytest.mark.parametrize("setting, checked", MISSING_CA_SETTINGS, ids=["+".join(setting) for setting, _ in MISSING_CA_SETTINGS])
def test_f06_names_exactly_the_tools_a_missing_ca_setting_breaks(https_index, trusting_env, tmp_path, setting, checked):
    assert failing_tools(https_index, trusting_env, tmp_path) == set()
    assert claimed_tools(trusting_env, "F06") == set()
    env = dict(trusting_env, **{variable: str(tmp_path / path) for variable, path in setting.items()})
    failed = failing_tools(https_index, env, tmp_path, checked)
    assert claimed_tools(env, "F06") & set(checked) == failed


@pytest.fixture
def plain_proxy():
    """An HTTP CONNECT proxy on 127.0.0.1 that, as squid does, answers a TLS handshake where a request belongs with 400."""
    import select
    import socket
    import threading

    def tunnel(client):
        with client:
            head = client.recv(65536)
            if head[:1] == b"\x16":
                client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            while b"\r\n\r\n" not in head:
                more = client.recv(65536)
                if not more:
                    return
                head += more
            host, port = head.split(b" ", 2)[1].decode().rsplit(":", 1)
            with socket.create_connection((host, int(port))) as upstream:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                while True:
                    ready, _, _ = select.select([client, upstream], [], [], 30)
                    if not ready:
                        return
                    for side in ready:
                        data = side.recv(65536)
                        if not data:
                            return
                        (upstream if side is client else client).sendall(data)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve():
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=tunnel, args=(client,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_f11_names_exactly_the_tools_an_https_proxy_url_breaks(https_index, trusting_env, plain_proxy, tmp_path):
    through_proxy = dict(trusting_env, HTTPS_PROXY=f"http://{plain_proxy}")
    assert failing_tools(https_index, through_proxy, tmp_path) == set()
    assert claimed_tools(through_proxy, "F11") == set()
    env = dict(trusting_env, HTTPS_PROXY=f"https://{plain_proxy}")
    failed = failing_tools(https_index, env, tmp_path)
    assert failed == {"pip", "uv"}
    assert claimed_tools(env, "F11") == failed
