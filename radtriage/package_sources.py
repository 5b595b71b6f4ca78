"""Where pip would download from, as pip's own configuration says, and whether those servers can be reached.

Used before anything is installed (by ``radtriage doctor`` and the modules' dependency dialog) to tell an offline
computer from a working hospital mirror: the indexes come from ``pip config list`` (pip.conf files,
``PIP_CONFIG_FILE`` and the ``PIP_*`` variables, with pip's own precedence), the proxy from pip's ``proxy``
setting or ``HTTPS_PROXY``/``HTTP_PROXY`` with ``NO_PROXY`` honoured, and a host that a proxy serves is probed
through that proxy. Standard library only.
"""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from radtriage.slicer_host import JobStartError, job_python, popen_options

PYPI_INDEX = "https://pypi.org/simple"
PYTORCH_INDEX = "https://download.pytorch.org/whl"
"""Where light-the-torch (used by the PyTorch extension's ``installTorch``) downloads torch from."""

_SECTION_RANK = {"global": 0, "install": 1, ":env:": 2}
"""pip's precedence for the install command: environment over ``[install]`` over ``[global]``."""


def parse_pip_config(text: str) -> dict[str, str]:
    """``pip config list`` output (``global.index-url='https://...'`` lines) -> {option: value} as install sees it."""
    best: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        section, _dot, name = key.strip().rpartition(".")
        if not sep or section not in _SECTION_RANK:
            continue
        try:
            value = str(ast.literal_eval(raw.strip()))
        except (SyntaxError, ValueError):
            value = raw.strip().strip("'\"")
        rank = _SECTION_RANK[section]
        if name not in best or rank >= best[name][0]:
            best[name] = (rank, value)
    return {name: value for name, (_rank, value) in best.items()}


def pip_settings(
    python: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    run: Callable[..., Any] = subprocess.run,
    timeout: float = 30.0,
) -> dict[str, str]:
    """pip's configuration read by pip itself (``python -m pip config list``).

    When pip cannot be run, pip's documented ``PIP_<OPTION>`` variables are read instead (files then unknown).
    """
    env = os.environ if environ is None else environ
    try:
        done = run([python or job_python(), "-m", "pip", "config", "list"], capture_output=True, text=True,
                   timeout=timeout, env=dict(env), **popen_options())  # fmt: skip
    except (OSError, subprocess.SubprocessError, JobStartError):
        done = None
    if done is not None and done.returncode == 0:
        return parse_pip_config(done.stdout)
    return {key[4:].lower().replace("_", "-"): value for key, value in env.items() if key.startswith("PIP_")}


def _truthy(value: str | None) -> bool:
    return str(value or "").strip().lower() in {"1", "true", "yes", "on"}


def _host_port(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def proxy_for(url: str, settings: Mapping[str, str], environ: Mapping[str, str]) -> str | None:
    """The ``host:port`` of the proxy pip would use for ``url`` (pip's ``proxy`` setting wins; NO_PROXY bypasses)."""
    if settings.get("proxy"):
        return _host_port(settings["proxy"])
    scheme = urlsplit(url).scheme
    names = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    proxy = next((environ[n] for n in names if environ.get(n)), None)
    if not proxy:
        return None
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    host = urlsplit(url).hostname or ""
    if no_proxy and urllib.request.proxy_bypass_environment(host, {"no": no_proxy}):
        return None
    return _host_port(proxy)


@dataclass(frozen=True)
class PackageSource:
    """One place pip (or light-the-torch) downloads from and what to probe for it."""

    url: str
    role: str
    """``index``, ``extra-index``, ``find-links`` or ``pytorch``."""
    probe: str
    """``host:port`` to open a TCP connection to, or a local folder (``file:`` URLs and paths)."""
    proxy: str | None = None
    """The proxy that serves ``url`` (``probe`` is then the proxy), None for a direct connection."""
    local: bool = False
    """A folder on this computer, not a server."""


def _source(url: str, role: str, settings: Mapping[str, str], environ: Mapping[str, str]) -> PackageSource:
    parts = urlsplit(url)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a path (a Windows drive letter looks like a scheme)
        path = urllib.request.url2pathname(parts.path) if parts.scheme == "file" else url
        return PackageSource(url, role, path, local=True)
    proxy = proxy_for(url, settings, environ)
    return PackageSource(url, role, proxy or _host_port(url), proxy)


def package_sources(
    settings: Mapping[str, str], *, torch: bool = False, environ: Mapping[str, str] | None = None
) -> list[PackageSource]:
    """Every source pip's configuration names (index, extra indexes, find-links), plus PyTorch's when ``torch``."""
    env = os.environ if environ is None else environ
    urls: list[tuple[str, str]] = []
    if not _truthy(settings.get("no-index")):
        urls.append((settings.get("index-url") or PYPI_INDEX, "index"))
        urls += [(u, "extra-index") for u in settings.get("extra-index-url", "").split()]
    urls += [(u, "find-links") for u in settings.get("find-links", "").split()]
    if torch:
        urls.append((PYTORCH_INDEX, "pytorch"))
    return [_source(url, role, settings, env) for url, role in urls]


@dataclass(frozen=True)
class SourceStatus:
    """Whether one source answered: ``error`` says why not."""

    source: PackageSource
    reachable: bool
    error: str = ""


def probe_sources(
    sources: Iterable[PackageSource], *, timeout: float = 3.0, connect: Callable[..., Any] = socket.create_connection
) -> list[SourceStatus]:
    """Open a TCP connection to each server (or its proxy) and look for each local folder; nothing is downloaded."""
    statuses = []
    for source in sources:
        if source.local:
            found = Path(source.probe).exists()
            statuses.append(SourceStatus(source, found, "" if found else "folder not found"))
            continue
        host, _sep, port = source.probe.rpartition(":")
        try:
            connection = connect((host, int(port)), timeout=timeout)
        except OSError as error:
            statuses.append(SourceStatus(source, False, str(error)))
            continue
        close = getattr(connection, "close", None)
        if close is not None:
            close()
        statuses.append(SourceStatus(source, True))
    return statuses


def unreachable(statuses: Sequence[SourceStatus]) -> list[SourceStatus]:
    """The sources whose failure stops an install: PyTorch's server, or every pip source when none answers."""
    pip_side = [s for s in statuses if s.source.role != "pytorch"]
    blocking = [s for s in statuses if s.source.role == "pytorch" and not s.reachable]
    if pip_side and not any(s.reachable for s in pip_side):
        blocking = pip_side + blocking
    return blocking


def offline_message(blocking: Sequence[SourceStatus]) -> str:
    """What to tell the user when the package sources cannot be reached."""
    where = "; ".join(
        s.source.url + (f" (through the proxy {s.source.proxy})" if s.source.proxy else "") for s in blocking
    )
    return (
        f"Cannot reach {where or 'the package index'}: this computer seems to be offline (or a proxy or firewall "
        "blocks it). Nothing was installed and Slicer's Python environment is unchanged. Check the network, pip's "
        "configuration (pip.conf, PIP_INDEX_URL, HTTPS_PROXY, NO_PROXY) and try again."
    )
