#!/usr/bin/env python3
"""Say which digit clips a capture of a call gives away: what an eavesdropper hears.

Reads the UDP datagrams hotline sent from its RTP port range in a pcap (tshark does the
reading), takes each one's RTP payload as G.711 frames — as if the call were clear, which
it is unless SRTP encrypted it — and runs heard.py's recogniser over the decoded audio. On a
plain call the password's digits are there; on an SRTP call nothing must be.

Usage: capture_heard.py CALL.pcap DIGITS_DIR --ports 31000-31999 [--law ulaw|alaw]
Prints one JSON object: packets (datagrams from the range) and digits (in the order found).
"""

import argparse
import array
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heard  # noqa: E402  (the same recogniser as for the caller's recording)

FRAME = 160  # bytes of G.711 in a 20 ms packet; an SRTP tag after them is ignored


def payloads(pcap, low, high):
    """The RTP payloads of the datagrams sent from ports low..high, in capture order."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", f"udp.srcport >= {low} && udp.srcport <= {high}",
         "-T", "fields", "-e", "udp.payload"],
        check=True, capture_output=True, text=True,
    ).stdout
    for line in out.split():
        datagram = bytes.fromhex(line.replace(":", ""))
        if len(datagram) < 12 or datagram[0] >> 6 != 2:
            continue
        header = 12 + 4 * (datagram[0] & 0x0F)
        if datagram[0] & 0x10 and len(datagram) >= header + 4:
            header += 4 + 4 * int.from_bytes(datagram[header + 2 : header + 4], "big")
        yield datagram[header : header + FRAME]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("digits_dir")
    ap.add_argument("--ports", required=True, help="hotline's RTP range, LOW-HIGH")
    ap.add_argument("--law", choices=["ulaw", "alaw"], default="ulaw")
    args = ap.parse_args()
    low, high = (int(p) for p in args.ports.split("-"))
    decode = heard.ulaw_decode if args.law == "ulaw" else heard.alaw_decode
    samples = array.array("h")
    packets = 0
    for payload in payloads(args.pcap, low, high):
        packets += 1
        samples.extend(decode(b) for b in payload)
    digits = heard.digits_heard(samples, args.digits_dir, heard.Quantiser(decode))
    print(json.dumps({"packets": packets, "digits": digits}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
