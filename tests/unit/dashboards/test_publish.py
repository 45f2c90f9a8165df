"""``netdown-dashboards publish`` against a fake Grafana HTTP API: idempotent, and one clear line per failure."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import pytest

from netdown.dashboards.cli import main
from netdown.dashboards.dashboards import DASHBOARDS

TOKEN: Final = "glsa_test-token-never-printed"
UIDS: Final = [dashboard.uid for dashboard in DASHBOARDS]


@dataclass
class Request:
    """One request the fake Grafana received."""

    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class FakeGrafana:
    """What the fake Grafana holds and answers: folders and dashboards by uid, or a forced error status."""

    prefix: str = ""
    status: int | None = None  # answer every /api request but /api/health with this status
    health_status: int = 200
    health_body: bytes = b'{"commit":"abc","database":"ok","version":"11.2.0"}'
    health_type: str = "application/json"
    requests: list[Request] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    def api_calls(self, method: str, path: str) -> list[Request]:
        """The requests made with ``method`` to ``/api`` + ``path``."""
        return [r for r in self.requests if r.method == method and r.path == f"{self.prefix}/api{path}"]


def _handler(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _answer(self, status: int, body: object, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.requests.append(Request(method, self.path, self.headers.get("Authorization"), body))
            api = f"{state.prefix}/api"
            if not self.path.startswith(api + "/"):
                self._answer(404, b"404 page not found", "text/plain")
            elif self.path == f"{api}/health":
                self._answer(state.health_status, state.health_body, state.health_type)
            elif state.status is not None:
                self._answer(state.status, {"message": f"forced {state.status}"})
            elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Unauthorized"})
            else:
                self._route(method, self.path.removeprefix(api), body)

        def _route(self, method: str, path: str, body: Any) -> None:
            if method == "GET" and path.startswith("/folders/"):
                uid = path.removeprefix("/folders/")
                if uid in state.folders:
                    self._answer(200, {"uid": uid, "title": state.folders[uid]})
                else:
                    self._answer(404, {"message": "folder not found", "status": "not-found"})
            elif method == "POST" and path == "/folders":
                state.folders[body["uid"]] = body["title"]
                self._answer(200, {"uid": body["uid"], "title": body["title"]})
            elif method == "POST" and path == "/dashboards/db":
                uid = body["dashboard"]["uid"]
                if body.get("folderUid") not in state.folders:
                    self._answer(400, {"message": "folder not found"})
                    return
                state.dashboards[uid] = body
                state.versions[uid] = state.versions.get(uid, 0) + 1
                self._answer(200, {"uid": uid, "url": f"{state.prefix}/d/{uid}/x", "version": state.versions[uid]})
            else:
                self._answer(404, {"message": "not found"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    """A fake Grafana on 127.0.0.1 and its base URL."""
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def _token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    monkeypatch.delenv("GRAFANA_URL", raising=False)


def _publish(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["publish", "--timeout", "5", *args])
    out, err = capsys.readouterr()
    assert TOKEN not in out + err
    return code, out, err


def test_publishing_creates_the_folder_once_and_saves_each_dashboard_by_uid_with_overwrite(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana

    first = _publish(capsys, "--url", url)
    second = _publish(capsys, "--url", url)

    assert first[0] == second[0] == 0
    assert len(state.api_calls("POST", "/folders")) == 1
    assert state.api_calls("POST", "/folders")[0].body == {"title": "netdown", "uid": "netdown"}
    saves = [r.body for r in state.api_calls("POST", "/dashboards/db")]
    assert [body["dashboard"]["uid"] for body in saves] == UIDS * 2
    assert all(body["overwrite"] is True and body["folderUid"] == "netdown" for body in saves)
    assert all(body["dashboard"]["id"] is None for body in saves)
    assert sorted(state.dashboards) == sorted(UIDS)  # one copy each, a second version
    assert set(state.versions.values()) == {2}
    assert all(r.authorization == f"Bearer {TOKEN}" for r in state.requests if not r.path.endswith("/health"))
    assert "created folder" in first[1]
    assert "created folder" not in second[1]
    assert f"published netdown-fleet version 2 at {url}/d/netdown-fleet/x" in second[1]


def test_the_published_dashboards_are_the_committed_json(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana

    _publish(capsys, "--url", url)

    committed = Path(__file__).resolve().parents[3] / "dashboards" / "grafana" / "dashboards"
    for uid, body in state.dashboards.items():
        expected = json.loads((committed / f"{uid}.json").read_text(encoding="utf-8"))
        assert body["dashboard"] == {**expected, "id": None}


def test_a_url_with_a_path_prefix_reaches_the_api_under_it(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    state.prefix = "/grafana"

    code, out, _ = _publish(capsys, "--url", f"{url}/grafana/")

    assert code == 0
    assert sorted(state.dashboards) == sorted(UIDS)
    assert f"at {url}/grafana/d/netdown-fleet/x" in out


def test_the_token_can_come_from_a_file_and_the_url_from_the_environment(
    grafana: tuple[FakeGrafana, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    state, url = grafana
    monkeypatch.setenv("GRAFANA_TOKEN", "a-wrong-token-the-file-overrides")
    monkeypatch.setenv("GRAFANA_URL", url)
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")

    code, _, err = _publish(capsys, "--token-file", str(token_file))

    assert (code, err) == (0, "")
    assert sorted(state.dashboards) == sorted(UIDS)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "authentication failed: check the token"),
        (403, "the token lacks permission (needs Editor on the folder)"),
        (404, "Grafana API not found at {url} (wrong URL or path prefix?)"),
        (500, "Grafana at {url} answered 500: forced 500"),
    ],
)
def test_each_refusal_is_one_line_naming_the_cause(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str], status: int, message: str
) -> None:
    state, url = grafana
    state.status = status

    code, out, err = _publish(capsys, "--url", url)

    assert (code, out) == (1, "")
    assert err == f"netdown-dashboards: {message.format(url=url)}\n"
    assert not state.dashboards


def test_a_wrong_token_is_reported_as_an_authentication_failure(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = grafana
    monkeypatch.setenv("GRAFANA_TOKEN", "not-the-token")

    code, _, err = _publish(capsys, "--url", url)

    assert (code, err) == (1, "netdown-dashboards: authentication failed: check the token\n")


def test_a_url_without_the_grafana_path_prefix_is_reported_as_api_not_found(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    state.prefix = "/grafana"

    code, _, err = _publish(capsys, "--url", url)

    assert code == 1
    assert err == f"netdown-dashboards: Grafana API not found at {url} (wrong URL or path prefix?)\n"


def test_a_server_that_is_not_grafana_is_reported_as_api_not_found(
    grafana: tuple[FakeGrafana, str], capsys: pytest.CaptureFixture[str]
) -> None:
    state, url = grafana
    state.health_body, state.health_type = b"<html>a login page</html>", "text/html"

    code, _, err = _publish(capsys, "--url", url)

    assert code == 1
    assert err == f"netdown-dashboards: Grafana API not found at {url} (wrong URL or path prefix?)\n"


def test_a_port_nobody_listens_on_is_reported_as_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: connecting to it is refused

    code, out, err = _publish(capsys, "--url", f"http://127.0.0.1:{port}")

    assert (code, out) == (1, "")
    assert err == f"netdown-dashboards: cannot reach Grafana at http://127.0.0.1:{port}\n"


def test_a_grafana_that_never_answers_is_reported_as_unreachable_after_the_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the backlog, nothing ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        code = main(["publish", "--url", url, "--timeout", "0.3"])

    assert code == 1
    assert capsys.readouterr().err == f"netdown-dashboards: cannot reach Grafana at {url}: timed out\n"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {"GRAFANA_TOKEN": TOKEN}, "no Grafana URL: pass --url or set GRAFANA_URL"),
        (["--url", "http://127.0.0.1:9"], {}, "no token: set GRAFANA_TOKEN or pass --token-file"),
        (["--url", "http://127.0.0.1:9", "--token-file", "/nonexistent/token"], {}, "cannot read the token file"),
    ],
)
def test_missing_configuration_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    code = main(["publish", *args])

    assert code == 2
    assert capsys.readouterr().err.startswith(f"netdown-dashboards: {message}")


def test_credentials_in_the_url_are_refused_and_not_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _publish(capsys, "--url", "http://admin:hunter2@127.0.0.1:9")

    assert code == 1
    assert "hunter2" not in err
    assert "the URL carries credentials" in err
