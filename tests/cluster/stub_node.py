#!/usr/bin/env python3
"""A broken hotline node: answers OPTIONS 200 (so the dispatcher keeps it in rotation) and every
INVITE with 100 Trying and then STATUS (503 by default), and counts the INVITEs it refused.

    stub_node.py IP PORT [--status 503] [--count-file FILE]

Runs until killed; after each INVITE it rewrites FILE with the number refused so far. Used by
tests/cluster/run to check that Kamailio fails a call over to the next node on 5xx and 503.
"""

import argparse
import socket


def response(request, status, reason, extra=""):
    lines = request.split("\r\n")
    keep = [l for l in lines[1:] if l.split(":", 1)[0].strip().lower() in
            ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
    to_tagged = []
    for line in keep:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("to", "t") and ";tag=" not in line and status >= 200:
            line += ";tag=stub"
        to_tagged.append(line)
    return (f"SIP/2.0 {status} {reason}\r\n" + "\r\n".join(to_tagged) + "\r\n" + extra +
            "Content-Length: 0\r\n\r\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ip")
    ap.add_argument("port", type=int)
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--count-file")
    args = ap.parse_args()
    reasons = {500: "Server Internal Error", 503: "Service Unavailable"}
    refused = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((args.ip, args.port))
        while True:
            data, peer = s.recvfrom(65535)
            text = data.decode(errors="replace")
            method = text.split(" ", 1)[0]
            if method == "OPTIONS":
                s.sendto(response(text, 200, "OK"), peer)
            elif method == "INVITE":
                s.sendto(response(text, 100, "Trying"), peer)
                extra = "Retry-After: 5\r\n" if args.status == 503 else ""
                s.sendto(response(text, args.status, reasons.get(args.status, "Error"), extra), peer)
                refused += 1
                if args.count_file:
                    with open(args.count_file, "w") as f:
                        f.write(f"{refused}\n")
            # ACK (of our final answer) and anything else: nothing to say.


if __name__ == "__main__":
    main()
