"""Auth modes and the `kimi-student keys` commands; rate limits per key (429 + Retry-After)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings
from service.store import Store
from service.store.keys import KEY_PREFIX, authenticate
from tests.caws_service.conftest import make_key, plea_body, settings_for, waiver_body


def test_auth_off_only_on_loopback() -> None:
    for host in ("0.0.0.0", "10.1.2.3", "example.org"):
        with pytest.raises(ValueError, match="loopback"):
            Settings(auth="off", host=host)
    for host in ("127.0.0.1", "::1", "localhost"):
        assert Settings(auth="off", host=host).auth == "off"


def test_serve_refuses_auth_off_on_a_public_bind(tmp_path) -> None:
    cmd = [sys.executable, "-m", "kimi_student", "serve", "--auth", "off", "--host", "0.0.0.0", "--models", "",
           "--data-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "loopback" in done.stderr


def test_auth_off_serves_but_refuses_approval(backend, judge_artifacts, tmp_path) -> None:
    app = create_app(settings_for(backend, tmp_path, judge_artifacts, auth="off"))
    with TestClient(app) as client:
        assert client.post("/caws/adjudicate", json=plea_body()).status_code == 200
        wid = client.post("/caws/waivers", json=waiver_body()).json()["id"]
        r = client.post(f"/caws/waivers/{wid}/approve")
        assert r.status_code == 403 and r.json()["error"]["code"] == "no_principal"
        r = client.post(f"/caws/waivers/{wid}/approve", headers=make_key(client))  # a key changes nothing
        assert r.status_code == 403


def test_rate_limit_is_429_with_retry_after(client) -> None:
    headers = make_key(client, rate_limit_per_min=3)
    codes = [client.get("/caws/waivers/WV-0000", headers=headers).status_code for _ in range(2)]
    codes += [client.post("/caws/adjudicate", json=plea_body(), headers=headers).status_code for _ in range(4)]
    assert codes == [404, 404, 200, 200, 200, 429]  # reads are not limited; the fourth write is
    r = client.post("/caws/adjudicate", json=plea_body(), headers=headers)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 20
    assert r.json()["error"]["type"] == "rate_limit_error"


def test_keys_cli_prints_only_the_key(tmp_path) -> None:
    run = [sys.executable, "-m", "kimi_student", "keys"]
    where = ["--data-dir", str(tmp_path)]
    made = subprocess.run([*run, "create", "--name", "ci", "--scopes", "adjudicate,waivers:write", *where],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert made.stdout == key + "\n" and key.startswith(KEY_PREFIX) and len(key) > 40
    # Stored hashed. (Read the file before this process opens the database: closing any descriptor of
    # a file drops the process's POSIX locks on it, which SQLite relies on.)
    assert key.encode() not in (tmp_path / "kimi-student.db").read_bytes()
    store = Store.open(f"sqlite:///{tmp_path / 'kimi-student.db'}", migrate=False)
    with store.sessions() as session:
        assert authenticate(session, key=key).scopes == {"adjudicate", "waivers:write"}
    listed = subprocess.run([*run, "list", *where], capture_output=True, text=True, timeout=120)
    assert "ci\t" in listed.stdout and key not in listed.stdout
    bad = subprocess.run([*run, "create", "--name", "x", "--scopes", "root", *where], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "unknown scopes" in bad.stderr and bad.stdout == ""
    revoked = subprocess.run([*run, "revoke", "--name", "ci", *where], capture_output=True, text=True, timeout=120)
    assert revoked.returncode == 0
    with store.sessions() as session:
        assert authenticate(session, key=key) is None
    store.close()


def test_unreachable_redis_is_503_not_500(judge_artifacts, tmp_path) -> None:
    """Without the shared rate-limit store the service refuses writes (503 + Retry-After) and still reads."""
    from tests.caws_service.conftest import Backend

    dead = Backend("sqlite+dead-redis", f"sqlite:///{tmp_path / 'db.sqlite'}", "redis://127.0.0.1:1/0", "kstest:dead:")
    with TestClient(create_app(settings_for(dead, tmp_path, judge_artifacts))) as client:
        headers = make_key(client)
        r = client.post("/caws/adjudicate", json=plea_body(), headers=headers)
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
        assert client.get("/caws/verdicts", headers=headers).status_code == 200
