"""The web station's front door against real attacks, in headless Chromium and over raw sockets: a page of
another origin (another port of the same host) tries the station's WebSocket and fetch while the reader is
logged in; oversized messages (a frame and a wslink chunk announcing 1 GB) are refused without the server's
memory growing; two readers of one launcher, in two browser contexts, keep their own cursor and store their
labels under their own reader id; the readers' stations die with the launcher.

One default station and one two-reader launcher serve the module.
"""

from __future__ import annotations

import base64
import http.server
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, status, wait_status
from web_server_fixture import Served, free_port, serve_station

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's chromium at /usr/bin/chromium (setup.sh installs it)"),
]
SOLO = "solo-reader"
READERS = {"dr-a": "a" * 24, "dr-b": None}  # dr-b's token is generated and printed
GB = 1024 ** 3
MAX_RSS_GROWTH_MB = 100


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory):
    with serve_station(tmp_path_factory.mktemp("station"), "--reader", SOLO) as served:
        print(f"\nstation ready after {served.ready_s:.1f} s")
        yield served


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("launcher")
    readers = workdir / "readers.txt"
    readers.write_text("".join(f"{r} {t or ''}\n" for r, t in READERS.items()))
    with serve_station(workdir, "--readers", str(readers), ready_lines=len(READERS)) as served:
        print(f"\nlauncher ready after {served.ready_s:.1f} s")
        yield served


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def open_station(browser, url: str, timeout_s: float = 150.0):
    """A fresh browser context on the station at ``url``, once its first case is shown."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(url, timeout=timeout_s * 1000)
    wait_status(page, lambda s: s.get("case_id") == "01-brain-infarct", timeout_s, "the first case")
    return context, page


def http_status(url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2 ** 20


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


# ------------------------------------------------------------------------------------------------ default station


def test_the_default_station_requires_its_token_and_its_own_host(station: Served) -> None:
    assert station.url.startswith(f"http://127.0.0.1:{station.port}/?token=")
    assert len(token_of(station.url)) >= 22
    assert http_status(station.base) == 403
    bearer = {"Authorization": f"Bearer {token_of(station.url)}"}
    assert http_status(station.base + "index.html?secret=x", bearer) == 200  # a redirect to the secret, then 200
    assert http_status(station.base + "index.html", {**bearer, "Host": "attacker.example"}) == 403
    assert http_status(station.base + "index.html", {**bearer, "Host": f"attacker.example:{station.port}"}) == 403
    assert "refused GET / from 127.0.0.1" in station.log()


ATTACK_PAGE = """<!doctype html><html><body><script>
window.results = {};
(async () => {
  const ws = new WebSocket("ws://127.0.0.1:PORT/ws");
  ws.onopen = () => { window.results.ws = "open"; };
  ws.onmessage = () => { window.results.ws_message = true; };
  ws.onclose = (e) => { window.results.ws = window.results.ws || ("closed " + e.code); };
  try {
    const r = await fetch("http://127.0.0.1:PORT/index.html", {credentials: "include"});
    window.results.fetch = "read " + r.status + " " + (await r.text()).length;
  } catch (e) { window.results.fetch = "blocked"; }
  try {
    const r = await fetch("http://127.0.0.1:PORT/index.html", {credentials: "include", mode: "no-cors"});
    window.results.nocors = r.type;
  } catch (e) { window.results.nocors = "blocked"; }
  window.results.done = true;
})();
</script></body></html>"""


def _serve_page(html: str) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def test_a_page_of_another_origin_cannot_read_or_drive_the_station(browser, station: Served) -> None:
    context, page = open_station(browser, station.url)
    try:
        assert "token=" not in page.url and "secret=" not in page.url  # the token left the address bar
        before = status(page)
        attacker, attacker_port = _serve_page(ATTACK_PAGE.replace("PORT", str(station.port)))
        try:
            evil = context.new_page()  # same browser, the reader's cookie present: the worst case
            evil.goto(f"http://127.0.0.1:{attacker_port}/")
            evil.wait_for_function("window.results.done && window.results.ws", timeout=20_000)
            results = evil.evaluate("window.results")
        finally:
            attacker.shutdown()
        print(f"\nattack page on port {attacker_port}: {results}")
        assert results["ws"].startswith("closed") and not results.get("ws_message"), results
        assert results["fetch"] == "blocked", results
        log = station.log()
        assert f"Origin 'http://127.0.0.1:{attacker_port}' is not allowed" in log
        assert "a same-site page may not load" in log  # the no-cors fetch carried the cookie but got nothing
        page.keyboard.press("ArrowRight")  # the reader's own page still drives the station
        wait_status(page, lambda s: s["case_id"] == "02-brain-normal", 30, "next case")
        assert before["case_id"] == "01-brain-infarct"
    finally:
        context.close()


def _hello(secret: str) -> bytes:
    import msgpack
    from wslink.chunking import generate_chunks

    message = {"wslink": "1.0", "id": "system:c0:0", "method": "wslink.hello", "args": [{"secret": secret}],
               "kwargs": {}}
    return b"".join(generate_chunks(msgpack.packb(message), 0))


def _secret(station: Served) -> str:
    bearer = {"Authorization": f"Bearer {token_of(station.url)}"}

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_: object) -> None:
            return None

    try:
        urllib.request.build_opener(NoRedirect).open(urllib.request.Request(station.base, headers=bearer))
    except urllib.error.HTTPError as exc:
        assert exc.code == 302
        return exc.headers["Location"].split("secret=", 1)[1]
    raise AssertionError("no redirect to the page with the wslink secret")


def test_oversized_messages_are_refused_without_memory_growth(station: Served) -> None:
    """The issue's attack: authenticated, three 22-byte frames announcing 1 GB messages each (it took the server
    from 713 to 2703 MB); and a WebSocket frame header announcing 1 GB. Both close the connection."""
    import asyncio

    import aiohttp
    from wslink.chunking import _encode_header

    secret = _secret(station)
    assert secret != "wslink-secret" and len(secret) >= 22
    bearer = {"Authorization": f"Bearer {token_of(station.url)}"}
    before = rss_mb(station.proc.pid)

    async def announce_1gb(session: aiohttp.ClientSession, message_id: int) -> aiohttp.WSMsgType:
        async with session.ws_connect(f"ws://127.0.0.1:{station.port}/ws", headers=bearer) as ws:
            await ws.send_bytes(_hello(secret))
            reply = await ws.receive(timeout=10)
            assert reply.type == aiohttp.WSMsgType.BINARY and b"clientID" in reply.data  # authenticated
            await ws.send_bytes(_encode_header(message_id, 0, GB) + b"0123456789")  # 22 bytes
            while (answer := await ws.receive(timeout=10)).type == aiohttp.WSMsgType.BINARY:
                pass  # state pushed before the refusal
            return answer.type

    async def scenario() -> list[aiohttp.WSMsgType]:
        async with aiohttp.ClientSession() as session:
            return [await announce_1gb(session, i) for i in (11, 12, 13)]

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        endings = pool.submit(asyncio.run, scenario()).result()
    assert all(e in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING) for e in endings)
    # a raw frame header announcing a 1 GB payload
    with socket.create_connection(("127.0.0.1", station.port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{station.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Authorization: Bearer {token_of(station.url)}\r\n\r\n").encode())
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += sock.recv(4096)
        assert handshake.startswith(b"HTTP/1.1 101")
        sock.sendall(bytes([0x82, 0xFF]) + GB.to_bytes(8, "big") + os.urandom(4) + b"x" * 64)
        answer = handshake.split(b"\r\n\r\n", 1)[1]
        while len(answer) < 4 and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer[:1] == b"\x88" and int.from_bytes(answer[2:4], "big") == 1009  # close: message too big
    time.sleep(1.0)
    after = rss_mb(station.proc.pid)
    print(f"\nstation RSS before {before:.0f} MB, after three 1 GB announcements and a 1 GB frame {after:.0f} MB")
    assert after - before < MAX_RSS_GROWTH_MB
    assert "exceeds the allocation limit" in station.log()


# ------------------------------------------------------------------------------------------------ two readers


def test_two_readers_have_their_own_station_and_labels(browser, launcher: Served) -> None:
    from radtriage.annotations import open_store

    assert set(launcher.urls) == set(READERS)
    assert token_of(launcher.urls["dr-a"]) == READERS["dr-a"]
    assert len(token_of(launcher.urls["dr-b"])) >= 22
    assert http_status(launcher.base) == 403  # no token, no station
    started = time.monotonic()
    with ThreadPoolExecutor(len(READERS)) as pool:  # both readers arrive at once: their stations start together
        codes = list(pool.map(lambda url: http_status(launcher.base + "index.html", {
            "Authorization": f"Bearer {token_of(url)}"}, 150.0), launcher.urls.values()))
    assert codes == [200] * len(READERS)
    ctx_a, page_a = open_station(browser, launcher.urls["dr-a"])
    ctx_b, page_b = open_station(browser, launcher.urls["dr-b"])
    print(f"\ntwo readers' stations started and showing their first case after {time.monotonic() - started:.1f} s")
    try:
        assert "Reader dr-a" in page_a.inner_text("body") and "Reader dr-b" in page_b.inner_text("body")
        page_a.keyboard.press("ArrowRight")
        wait_status(page_a, lambda s: s["case_id"] == "02-brain-normal", 30, "dr-a's next case")
        page_b.wait_for_timeout(1000)
        assert status(page_b)["case_id"] == "01-brain-infarct"  # dr-b's cursor did not move
        page_a.evaluate("window.trame.state.set('reader_id', 'dr-b')")  # a page message cannot change who commits
        for page in (page_a, page_b):
            page.locator("body").click(position={"x": 700, "y": 20})
            page.keyboard.press("2")
            wait_status(page, lambda s: s["controls"] and s["controls"][0]["current"] == "abnormal"
                        and "saved" in s["message"], 30, "the label")
        assert status(page_a)["case_id"] == "02-brain-normal" and status(page_b)["case_id"] == "01-brain-infarct"
    finally:
        ctx_a.close()
        ctx_b.close()
    store = open_store(launcher.workdir / "project")
    try:
        labels = {(e.reader_id, e.case_id, e.schema): e.value for e in store.current_labels()}
    finally:
        store.close()
    assert labels[("dr-a", "02-brain-normal", "mri_normal_abnormal")] == "abnormal"
    assert labels[("dr-b", "01-brain-infarct", "mri_normal_abnormal")] == "abnormal"
    assert ("dr-b", "02-brain-normal", "mri_normal_abnormal") not in labels
    assert {reader for reader, _, _ in labels} == {"dr-a", "dr-b"}
    print("\n" + "\n".join(line for line in launcher.log().splitlines() if "station of reader" in line))


def test_readers_stations_die_with_the_launcher(launcher: Served) -> None:
    import psutil

    children = [c for c in psutil.Process(launcher.proc.pid).children() if "serve" in " ".join(c.cmdline())]
    assert len(children) == len(READERS)
    launcher.proc.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel tells the stations
    launcher.proc.wait(10)
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"stations outlived the launcher: {[c.pid for c in alive]}"
