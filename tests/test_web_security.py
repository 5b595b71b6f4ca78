"""The web station's front door without a browser: tokens, Host and Origin checks, the cookie named by port, the
security headers, the connection bound, rate-limited refusal logs, the readers file, the wslink message cap and
error ids — each on a real aiohttp server where it is about requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from radtriage.errors import InputError
from radtriage.web import access
from radtriage.web.headers import security_headers
from radtriage.web.readers import MAX_READERS, parse_readers, read_readers

TOKEN = "t" * 20
SECRET = "wslink-per-launch-secret"

# ------------------------------------------------------------------------------------------------ tokens


def test_generated_tokens_have_at_least_128_random_bits() -> None:
    tokens = {access.resolve_token(None) for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 22 for t in tokens)  # url-safe base64: 6 bits a character; 24 bytes -> 32 characters
    assert access.TOKEN_BYTES * 8 >= 128


@pytest.mark.parametrize("token", ["a", "short-token", "x" * 15, " " * 20, "sixteen chars ok"])
def test_short_or_spaced_tokens_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        access.resolve_token(token)


def test_a_long_enough_token_is_kept() -> None:
    assert access.resolve_token("x" * 16) == "x" * 16


def test_cookie_name_includes_the_port() -> None:
    assert access.cookie_name(8080) == "radtriage_token_8080"
    assert access.cookie_name(8080) != access.cookie_name(8081)


def test_token_comes_from_query_cookie_or_bearer_header() -> None:
    cookie = {access.cookie_name(9000): "c"}
    assert access.presented_token({"token": "q"}, cookie, {}, 9000) == "q"
    assert access.presented_token({}, cookie, {}, 9000) == "c"
    assert access.presented_token({}, cookie, {}, 9001) is None  # another station's cookie
    assert access.presented_token({}, {}, {"Authorization": "Bearer b"}, 9000) == "b"
    assert access.presented_token({}, {}, {"Authorization": "Basic b"}, 9000) is None


# ------------------------------------------------------------------------------------------------ Host / Origin


@pytest.mark.parametrize(("host", "ok"), [
    ("127.0.0.1:8080", True), ("localhost:8080", True), ("[::1]:8080", True),
    ("127.0.0.1:8081", False), ("attacker.example:8080", False), ("attacker.example", False),
    ("10.0.0.5:8080", False), ("", False), ("127.0.0.1:8080@x", False),
])
def test_loopback_station_answers_only_its_own_host(host: str, ok: bool) -> None:
    origins = access.Origins("127.0.0.1", machine_names=("labhost",))
    assert origins.host_allowed(host, 8080) is ok


def test_wildcard_bind_answers_ip_literals_and_the_machine_names_only() -> None:
    origins = access.Origins("0.0.0.0", machine_names=("labhost", "labhost.example.org"))
    assert origins.host_allowed("10.0.0.5:8080", 8080)
    assert origins.host_allowed("labhost.example.org:8080", 8080)
    assert not origins.host_allowed("rebind.attacker.example:8080", 8080)  # DNS rebinding needs a name
    assert not origins.host_allowed("10.0.0.5:9999", 8080)


def test_allowed_origin_admits_a_reverse_proxy_host_and_origin() -> None:
    origins = access.Origins.for_bind("127.0.0.1", ["https://Review.Example.org/"])
    assert origins.allowed_origins == ("https://review.example.org",)
    assert origins.host_allowed("review.example.org", 8080)
    assert origins.origin_allowed("https://review.example.org", "http", "review.example.org")
    assert not origins.origin_allowed("https://evil.example.org", "http", "review.example.org")
    with pytest.raises(ValueError):
        access.Origins.for_bind("127.0.0.1", ["review.example.org"])  # no scheme
    with pytest.raises(ValueError):
        access.Origins.for_bind("127.0.0.1", ["https://review.example.org/path"])


@pytest.mark.parametrize(("origin", "ok"), [
    (None, True), ("http://127.0.0.1:8080", True), ("http://127.0.0.1:8081", False), ("null", False),
    ("http://attacker.example", False), ("https://127.0.0.1:8080", False),
])
def test_origin_must_be_the_station_itself(origin: str | None, ok: bool) -> None:
    assert access.Origins("127.0.0.1").origin_allowed(origin, "http", "127.0.0.1:8080") is ok


# ------------------------------------------------------------------------------------------------ on a server


def _run(scenario) -> None:
    asyncio.run(scenario())


async def _station_app(max_connections: int = 2, **kw):
    """An aiohttp app guarded like the station: a page, an asset and a WebSocket echo at /ws."""
    from aiohttp import WSMsgType, web

    from radtriage.web.headers import add_security_headers

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="page", content_type="text/html")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str(msg.data)
        return sock

    app = web.Application(middlewares=[access.access_middleware([TOKEN], access.Origins("127.0.0.1"), secret=SECRET,
                                                                 max_connections=max_connections, **kw)])
    app.on_response_prepare.append(add_security_headers)
    app.router.add_get("/index.html", page)
    app.router.add_get("/", page)
    app.router.add_get("/asset.js", page)
    app.router.add_get("/ws", ws)
    return app


def test_the_token_becomes_a_port_named_cookie_and_leaves_the_url() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async def scenario() -> None:
        async with TestClient(TestServer(await _station_app())) as client:
            port = client.server.port
            assert (await client.get("/")).status == 403
            assert (await client.get("/?token=" + "x" * 20, allow_redirects=False)).status == 403
            first = await client.get(f"/?token={TOKEN}&ui=main", allow_redirects=False)
            assert first.status == 302
            location = first.headers["Location"]
            assert TOKEN not in location and "ui=main" in location and f"secret={SECRET}" in location
            cookie = first.cookies[access.cookie_name(port)]
            assert cookie.value == TOKEN and cookie["httponly"] and cookie["samesite"] == "Strict"
            page = await client.get("/" + location)
            assert page.status == 200 and await page.text() == "page"
            reload = await client.get("/index.html", allow_redirects=False)  # a reload: the secret again
            assert reload.status == 302 and f"secret={SECRET}" in reload.headers["Location"]
            assert access.cookie_name(port) not in reload.cookies  # set only when a token came in the URL
            assert (await client.get("/asset.js")).status == 200

    _run(scenario)


def test_foreign_host_origin_and_other_site_fetches_are_refused() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async def scenario() -> None:
        async with TestClient(TestServer(await _station_app())) as client:
            port = client.server.port
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.get("/asset.js", headers=auth)).status == 200
            assert (await client.get("/asset.js", headers={**auth, "Host": "attacker.example"})).status == 403
            assert (await client.get("/asset.js", headers={**auth, "Host": f"attacker.example:{port}"})).status == 403
            foreign = {**auth, "Origin": f"http://127.0.0.1:{port + 1}"}
            assert (await client.get("/asset.js", headers=foreign)).status == 403
            own = {**auth, "Origin": f"http://127.0.0.1:{port}"}
            assert (await client.get("/asset.js", headers=own)).status == 200
            included = {**auth, "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}  # <script src> elsewhere
            assert (await client.get("/asset.js", headers=included)).status == 403
            with pytest.raises(Exception, match="403"):
                await client.ws_connect("/ws", headers=foreign)
            sock = await client.ws_connect("/ws", headers=own)
            await sock.send_str("hi")
            assert await sock.receive_str() == "hi"
            await sock.close()

    _run(scenario)


def test_security_headers_are_on_pages_and_refusals() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async def scenario() -> None:
        async with TestClient(TestServer(await _station_app())) as client:
            for response in (await client.get("/"), await client.get("/asset.js", headers={
                    "Authorization": f"Bearer {TOKEN}"})):
                csp = response.headers["Content-Security-Policy"]
                assert "frame-ancestors 'none'" in csp and f"ws://127.0.0.1:{client.server.port}" in csp
                assert response.headers["X-Frame-Options"] == "DENY"
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert response.headers["X-Content-Type-Options"] == "nosniff"

    _run(scenario)
    assert "'unsafe-eval'" in security_headers("h:1")["Content-Security-Policy"]  # Vue's run-time compiler


def test_websocket_connections_are_bounded() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    async def scenario() -> None:
        async with TestClient(TestServer(await _station_app(max_connections=2))) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            socks = [await client.ws_connect("/ws", headers=auth) for _ in range(2)]
            with pytest.raises(Exception, match="503"):
                await client.ws_connect("/ws", headers=auth)
            await socks[0].close()
            await asyncio.sleep(0.1)
            again = await client.ws_connect("/ws", headers=auth)  # a slot came free
            for sock in (again, socks[1]):
                await sock.close()

    _run(scenario)


def test_refusals_are_logged_with_the_client_address_at_a_bounded_rate(caplog) -> None:
    now = [0.0]
    log = access.RefusalLog(burst=3, window_s=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="radtriage.web.access"):
        logged = [log.refused("10.1.2.3", "GET", "/", "no token") for _ in range(10)]
        now[0] = 61.0
        assert log.refused("10.1.2.3", "GET", "/ws", "bad origin")
    assert logged == [True] * 3 + [False] * 7
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all("10.1.2.3" in line for line in lines)
    assert "7 more refused" in lines[-1]


# ------------------------------------------------------------------------------------------------ readers file


def test_readers_file_gives_each_reader_a_token(tmp_path: Path) -> None:
    path = tmp_path / "readers.txt"
    path.write_text("# lab readers\ndr-a  aaaaaaaaaaaaaaaaaaaa\n\ndr-b   # token generated\n")
    readers = read_readers(path)
    assert [r.reader_id for r in readers] == ["dr-a", "dr-b"]
    assert readers[0].token == "a" * 20 and len(readers[1].token) >= 22


@pytest.mark.parametrize(("text", "problem"), [
    ("", "no reader"), ("dr a b c\n", "line 1"), ("dr-a short\n", "at least 16"),
    ("dr-a\ndr-a\n", "listed twice"), ("Dr^Smith\n", "reader id"),
    ("a " + "k" * 20 + "\nb " + "k" * 20 + "\n", "same token"),
    ("".join(f"r{i}\n" for i in range(MAX_READERS + 1)), f"at most {MAX_READERS}"),
])
def test_bad_readers_files_are_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse_readers(text)


def test_a_missing_readers_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_readers(tmp_path / "none.txt")


# ------------------------------------------------------------------------------------------------ wslink


def test_capped_unchunker_refuses_a_huge_announced_message_before_allocating() -> None:
    import msgpack
    from wslink import chunking, protocol

    from radtriage.web import wslink_guard

    wslink_guard.cap_message_size(1024 * 1024)
    try:
        unchunker = protocol.UnChunker()
        unchunker.set_max_message_size(4 * 1024 ** 3)  # what wslink does once a client is authenticated
        assert unchunker.max_message_size == 1024 * 1024
        header = chunking._encode_header(7, 0, 1024 ** 3)  # 12 bytes announcing 1 GB
        with pytest.raises(ValueError, match="exceeds"):
            unchunker.process_chunk(header + b"0123456789")
        assert not unchunker.pending_messages
        small = next(chunking.generate_chunks(msgpack.packb({"a": "x" * 100}), 0))
        assert unchunker.process_chunk(small) == {"a": "x" * 100}
    finally:
        wslink_guard.cap_message_size()


def test_a_failing_rpc_sends_an_error_id_not_the_traceback(caplog) -> None:
    import msgpack
    from wslink import protocol

    from radtriage.web import wslink_guard

    wslink_guard.hide_tracebacks()
    sent: list[bytes] = []

    class Socket:
        async def send_bytes(self, data: bytes) -> None:
            sent.append(data)

    class Monitor(contextlib.nullcontext):
        def network_call_completed(self) -> None:
            pass

    class Handler(protocol.WslinkHandler):
        def __init__(self) -> None:  # only what sendWrappedError needs
            self.connections = {"c1": Socket()}
            self.network_monitor = Monitor()
            self.attachment_atomic = asyncio.Lock()

    async def scenario() -> None:
        data = {"method": "trame.trigger", "exception": "KeyError('x')",
                "trace": 'Traceback (most recent call last):\n  File "/srv/radtriage/app.py"'}
        await Handler().sendWrappedError(1, protocol.EXCEPTION_ERROR, "Exception raised", data, client_id="c1")

    with caplog.at_level(logging.ERROR, logger="radtriage.web.wslink_guard"):
        _run(scenario)
    payload = msgpack.unpackb(b"".join(sent)[12:])  # one chunk: 12-byte header, then the message
    error = payload["error"]
    assert "Traceback" not in repr(error) and "/srv/radtriage" not in repr(error)
    error_id = error["data"]["error_id"]
    assert len(error_id) == 8 and error_id in error["message"]
    assert any(error_id in r.getMessage() and "Traceback" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------------------------ launcher


def test_station_argv_passes_the_review_options_but_not_the_token() -> None:
    import argparse

    from radtriage.commands import serve as serve_command
    from radtriage.web.launcher import station_argv

    parser = argparse.ArgumentParser()
    serve_command.add_arguments(parser)
    args = parser.parse_args(["--cases", "/c", "--store", "/s", "--blind", "--task", "mri_triage",
                              "--token", TOKEN, "--host", "0.0.0.0", "--node-worklist", "/node"])
    argv = station_argv(args, "dr-a")
    assert argv[argv.index("--node-worklist") + 1] == "/node"
    assert argv[argv.index("--reader") + 1] == "dr-a" and argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "0" and "--blind" in argv
    assert argv[argv.index("--task") + 1] == "mri_triage" and argv[argv.index("--cases") + 1] == "/c"
    assert TOKEN not in argv  # the station's own token travels in its environment


def test_launcher_sends_each_reader_to_their_station_over_http_and_websocket() -> None:
    """The front with two readers before two stub stations: each token reaches its own station (with that
    station's bearer token, no browser cookie), redirects and the WebSocket pass through, a bad token does not."""
    from aiohttp import CookieJar, WSMsgType, web
    from aiohttp.test_utils import TestClient, TestServer

    from radtriage.web.launcher import Station, launcher_app
    from radtriage.web.readers import Reader

    readers = [Reader("dr-a", "a" * 20), Reader("dr-b", "b" * 20)]

    def stub_station(name: str, token: str) -> web.Application:
        async def page(request: web.Request) -> web.StreamResponse:
            assert request.headers["Authorization"] == f"Bearer {token}" and "Cookie" not in request.headers
            if "secret" not in request.query:
                raise web.HTTPFound("index.html?secret=s")
            response = web.Response(text=f"station of {name}")
            response.set_cookie("leak", "x")
            return response

        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            async for msg in sock:
                if msg.type == WSMsgType.BINARY:
                    await sock.send_bytes(name.encode() + msg.data)
            return sock

        app = web.Application()
        app.router.add_get("/index.html", page)
        app.router.add_get("/ws", ws)
        return app

    async def scenario() -> None:
        backs = {r.reader_id: TestServer(stub_station(r.reader_id, f"inner-{r.reader_id}")) for r in readers}
        for back in backs.values():
            await back.start_server()

        class Pool:
            async def station(self, reader: Reader) -> Station:
                return Station(reader, None, backs[reader.reader_id].port, f"inner-{reader.reader_id}", 0.0)

            async def close(self) -> None:
                pass

        front = launcher_app(readers, access.Origins("127.0.0.1"), Pool())
        try:
            for reader in readers:
                async with TestClient(TestServer(front), cookie_jar=CookieJar(unsafe=True)) as client:
                    assert (await client.get("/index.html")).status == 403
                    page = await client.get(f"/?token={reader.token}")  # cookie, then the station's redirect
                    assert page.status == 200 and await page.text() == f"station of {reader.reader_id}"
                    assert "leak" not in page.cookies and "frame-ancestors" in page.headers["Content-Security-Policy"]
                    sock = await client.ws_connect("/ws", headers={"Origin": f"http://127.0.0.1:{client.port}"})
                    await sock.send_bytes(b"!")
                    assert await sock.receive_bytes() == reader.reader_id.encode() + b"!"
                    await sock.close()
                front = launcher_app(readers, access.Origins("127.0.0.1"), Pool())  # an app runs once
        finally:
            for back in backs.values():
                await back.close()

    _run(scenario)
