#!/usr/bin/env python3
"""Slow-client flood against a running `ikp serve`: what N connections that never finish their request
headers cost the server, and whether it gets the memory and file descriptors back.

    benches/slow-clients.py --pid PID --port PORT [--connections 300] [--hold 45]
    benches/slow-clients.py --pid PID --unix /path/plugin.sock ...

Opens the connections (each sends the start of a request, then a header byte every second, like
slowloris), samples the server's open file descriptors and RSS from /proc, keeps the connections for
--hold seconds, closes them and samples once more after a short pause. A server without a header read
timeout keeps every connection; with one, the descriptors return to the baseline while the flood is
still running.
"""

import argparse
import socket
import time


def sample(pid):
    fds = len(__import__("os").listdir(f"/proc/{pid}/fd"))
    rss_kb = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return fds, rss_kb / 1024


def connect(args):
    if args.unix:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(args.unix)
    else:
        sock = socket.create_connection(("127.0.0.1", args.port))
    sock.setblocking(False)
    return sock


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pid", type=int, required=True, help="process id of ikp serve")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", type=int, help="TCP port on 127.0.0.1")
    target.add_argument("--unix", help="unix socket path")
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--hold", type=int, default=45, help="seconds to keep the flood up")
    args = parser.parse_args()

    def report(label):
        fds, rss = sample(args.pid)
        print(f"{label:<34} fds={fds:<6} rss={rss:7.1f} MiB", flush=True)

    report("before")
    socks, refused = [], 0
    for _ in range(args.connections):
        try:
            sock = connect(args)
            sock.send(b"POST /create HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        except OSError:
            refused += 1
    print(f"opened {len(socks)} connections ({refused} refused)", flush=True)
    report("flood opened")
    started = time.monotonic()
    closed_by_server = 0
    next_report = 10
    while time.monotonic() - started < args.hold:
        time.sleep(1)
        alive = []
        for sock in socks:
            try:
                sock.send(b"a")
                try:
                    if sock.recv(1024) == b"":
                        raise OSError("closed")
                except BlockingIOError:
                    pass
                alive.append(sock)
            except OSError:
                closed_by_server += 1
                sock.close()
        socks = alive
        if time.monotonic() - started >= next_report:
            report(f"after {next_report:>3} s ({len(socks)} still open)")
            next_report += 10
    report(f"end of flood ({len(socks)} still open)")
    for sock in socks:
        sock.close()
    time.sleep(3)
    report("3 s after the clients closed")
    print(f"connections closed by the server during the flood: {closed_by_server}")


if __name__ == "__main__":
    main()
