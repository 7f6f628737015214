#!/usr/bin/env python3
"""Time from process start to the first accepted WebSocket upgrade (HTTP 101).

    startup.py --port PORT --path PATH --runs N -- COMMAND [ARGS...]

Spawns COMMAND (with PORT in its environment) N times. Each time it polls
127.0.0.1:PORT every 0.2 ms with a WebSocket handshake on /PATH until the answer
is "101 Switching Protocols" (at most 10 s), records the time since the spawn,
then stops the process (SIGTERM, then SIGKILL after 3 s). Prints one JSON object:
{"runs_ms": [...], "median_ms": M}. Exits 1 if a run never got its 101.
"""

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

HANDSHAKE = (
    "GET /{path} HTTP/1.1\r\n"
    "Host: 127.0.0.1:{port}\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def upgraded(port, request):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(request)
            answer = s.recv(64)
            return answer.startswith(b"HTTP/1.1 101")
    except OSError:
        return False


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=3)


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    split = args.index("--")
    opts, command = args[:split], args[split + 1 :]
    port = int(opts[opts.index("--port") + 1])
    path = opts[opts.index("--path") + 1]
    runs = int(opts[opts.index("--runs") + 1])
    request = HANDSHAKE.format(path=path, port=port).encode()
    env = dict(os.environ, PORT=str(port))
    results = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            elapsed = None
            while time.perf_counter() - t0 < 10:
                if upgraded(port, request):
                    elapsed = (time.perf_counter() - t0) * 1000
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.0002)
        finally:
            stop(proc)
        if elapsed is None:
            print(json.dumps({"error": "no 101 within 10 s", "command": command}))
            sys.exit(1)
        results.append(round(elapsed, 2))
        time.sleep(0.3)
    print(json.dumps({"runs_ms": results, "median_ms": statistics.median(results)}))


if __name__ == "__main__":
    main()
