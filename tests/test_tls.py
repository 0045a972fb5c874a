"""uv behind a corporate CA: an HTTPS index on 127.0.0.1 signed by a test CA that only pip's
configuration names. What works with pip works with uv, because torchup hands uv pip's CA."""

import http.server
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
