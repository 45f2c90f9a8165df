"""Push the dashboards to a Grafana over its HTTP API (grafana-client), idempotently.

Each run ensures the folder (looked up by uid, created only when missing) and saves every dashboard
with its stable uid into it with ``overwrite: true``: publishing twice leaves one copy of each, the
second run only adding a version to the dashboards' history. A dashboard is identified by uid, never
by title or numeric id, so renaming one in code updates it in place.

Errors are one line each, with what to do about them: a wrong token (401), a token without the
right role (403), a URL that reaches no Grafana API (404, or something else answering), and a
Grafana that cannot be reached at all. The token is never printed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, Protocol, cast
from urllib.parse import urlsplit

import niquests.exceptions
from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaException, GrafanaTimeoutError

from netdown.version import __version__

__all__ = [
    "Folder",
    "Grafana",
    "GrafanaTarget",
    "PublishError",
    "connect",
    "display_url",
    "publish",
]

_NOT_FOUND: Final = 404
_CONFLICT: Final = frozenset({409, 412})  # a folder with that uid appeared meanwhile (another publisher)


class PublishError(Exception):
    """Publishing failed; the message is one line, fit to print as is."""


@dataclass(frozen=True)
class Folder:
    """The Grafana folder the dashboards go into, found by its uid."""

    uid: str
    title: str


@dataclass(frozen=True)
class GrafanaTarget:
    """Where to publish: the base URL (with any path prefix), the service account token, the request timeout."""

    url: str
    token: str
    timeout_s: float

    def __repr__(self) -> str:  # never show the token, not even in a traceback
        return f"GrafanaTarget(url={self.url!r}, token=<hidden>, timeout_s={self.timeout_s})"


class _Folders(Protocol):
    def get_folder(self, uid: str) -> Any: ...

    def create_folder(self, title: str, uid: str | None = None) -> Any: ...


class _Dashboards(Protocol):
    def update_dashboard(self, dashboard: dict[str, Any]) -> Any: ...


class _Client(Protocol):
    def GET(self, url: str) -> Any: ...  # grafana-client names its request methods after the HTTP verbs


class Grafana(Protocol):
    """The part of :class:`grafana_client.GrafanaApi` publishing uses (the library itself is untyped)."""

    client: _Client
    folder: _Folders
    dashboard: _Dashboards


def display_url(url: str) -> str:
    """``url`` as messages show it: scheme, host, port and path (no credentials, no query)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}".rstrip("/")


@contextlib.contextmanager
def connect(target: GrafanaTarget) -> Iterator[Grafana]:
    """A client for ``target``, its connections closed afterwards; :class:`PublishError` for an unusable URL."""
    parts = urlsplit(target.url)
    try:
        port = parts.port
    except ValueError:
        raise PublishError(f"not a valid Grafana URL: {target.url!r} (bad port)") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PublishError(f"not an http(s) URL: {display_url(target.url)!r}")
    if parts.username or parts.password:
        raise PublishError("the URL carries credentials: put the token in GRAFANA_TOKEN or a --token-file instead")
    # grafana-client joins the prefix and "api" without a slash: "grafana/" + "api", so the prefix ends in one.
    prefix = parts.path.strip("/")
    api = GrafanaApi(
        auth=target.token,
        host=parts.hostname,
        port=port,
        url_path_prefix=f"{prefix}/" if prefix else "",
        protocol=parts.scheme,
        timeout=target.timeout_s,
    )
    try:
        yield cast(Grafana, api)
    finally:
        api.client.s.close()  # grafana-client keeps a niquests session open and offers no close of its own


@contextlib.contextmanager
def _mapped_errors(url: str) -> Iterator[None]:
    """Turn what grafana-client and niquests raise into one-line :class:`PublishError` messages."""
    try:
        yield
    except GrafanaTimeoutError:
        raise PublishError(f"cannot reach Grafana at {url}: timed out") from None
    except GrafanaException as exc:
        _raise_for_status(exc.status_code, url, exc.response)
    except niquests.exceptions.SSLError as exc:
        raise PublishError(f"cannot reach Grafana at {url}: TLS failed ({type(exc).__name__})") from None
    except niquests.exceptions.RequestException:  # refused, no route, DNS: niquests' ConnectionError and kin
        raise PublishError(f"cannot reach Grafana at {url}") from None


def _raise_for_status(status: int | None, url: str, response: object) -> NoReturn:
    if status == 401:
        raise PublishError("authentication failed: check the token") from None
    if status == 403:
        raise PublishError("the token lacks permission (needs Editor on the folder)") from None
    if status == _NOT_FOUND:
        raise PublishError(f"Grafana API not found at {url} (wrong URL or path prefix?)") from None
    if not status:  # grafana-client wraps a failed request in a GrafanaException without a status
        raise PublishError(f"cannot reach Grafana at {url}") from None
    # Grafana's error bodies are {"message": ...}; anything else (a proxy's page) is cut to its first line.
    text = response.get("message", response) if isinstance(response, dict) else response
    lines = str(text or "").strip().splitlines() or ["(no message)"]
    raise PublishError(f"Grafana at {url} answered {status}: {lines[0][:200]}") from None


def _ensure_folder(grafana: Grafana, folder: Folder) -> bool:
    """Create the folder unless it exists; whether it was created."""
    try:
        grafana.folder.get_folder(folder.uid)
    except GrafanaException as exc:
        if exc.status_code != _NOT_FOUND:
            raise
    else:
        return False
    try:
        grafana.folder.create_folder(folder.title, uid=folder.uid)
    except GrafanaException as exc:
        if exc.status_code not in _CONFLICT:
            raise
        return False
    return True


def publish(grafana: Grafana, dashboards: Sequence[dict[str, Any]], *, folder: Folder, url: str) -> list[str]:
    """Save every dashboard into ``folder`` (created if missing); one line per dashboard saying where it is.

    Raise :class:`PublishError` on the first failure. ``url`` (without credentials) is only for messages.
    """
    shown = display_url(url)
    lines: list[str] = []
    with _mapped_errors(shown):
        # /api/health answers without authentication: a 404 or a non-Grafana answer here is the URL's fault.
        health = grafana.client.GET("/health")
        if not isinstance(health, dict) or "database" not in health:
            _raise_for_status(_NOT_FOUND, shown, None)
        if _ensure_folder(grafana, folder):
            lines.append(f"created folder {folder.title!r} (uid {folder.uid})")
        for model in dashboards:
            saved = grafana.dashboard.update_dashboard(
                {
                    "dashboard": {**model, "id": None},  # found by uid: a numeric id from elsewhere must not count
                    "folderUid": folder.uid,
                    "overwrite": True,
                    "message": f"netdown-dashboards publish (netdown {__version__})",
                }
            )
            lines.append(f"published {model.get('uid')} {_where(saved, url)}")
    return lines


def _where(saved: object, url: str) -> str:
    """``version N at <link>`` from Grafana's answer (its ``url`` already holds any sub-path)."""
    if not isinstance(saved, dict):
        return ""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return f"version {saved.get('version', '?')} at {origin}{saved.get('url', '')}"
