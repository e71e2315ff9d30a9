#!/usr/bin/env python3
"""Send one SIP OPTIONS over UDP and exit 0 on a 200, 1 otherwise (after retries).

Usage: options.py HOST PORT USER [--tries N]
Used to wait until a peer (hotline, Kamailio) is up, and to check that OPTIONS through
Kamailio reaches hotline. No sipsak or SIPp needed.
"""

import argparse
import socket
import sys
import uuid


def options(host, port, user, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        lport = s.getsockname()[1]
        call_id = uuid.uuid4().hex
        msg = (
            f"OPTIONS sip:{user}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{call_id[:16]};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={call_id[16:24]}\r\n"
            f"To: <sip:{user}@{host}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), (host, port))
        while True:
            data, _ = s.recvfrom(65535)
            status = data.split(b"\r\n", 1)[0].decode(errors="replace")
            if status.startswith("SIP/2.0 1"):
                continue
            return status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("--tries", type=int, default=1)
    args = ap.parse_args()
    last = "no answer"
    for _ in range(args.tries):
        try:
            last = options(args.host, args.port, args.user, 0.5)
        except (socket.timeout, ConnectionRefusedError):
            continue
        if last.startswith("SIP/2.0 200"):
            print(last)
            return 0
    print(f"OPTIONS sip:{args.user}@{args.host}:{args.port}: {last}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
