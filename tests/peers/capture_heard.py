#!/usr/bin/env python3
"""Say which digit clips a capture of a call gives away: what an eavesdropper hears.

Finds the call's RTP port in hotline's SDP answer (its SIP is in the capture too: the one
call's 200 OK, sent from --sip-port), reads the UDP datagrams hotline sent from that port
(tshark does the reading; other calls on the machine are left out), takes each one's RTP
payload as G.711 frames — as if the call were clear, which
it is unless SRTP encrypted it — and runs heard.py's recogniser over the decoded audio. On a
plain call the password's digits are there; on an SRTP call nothing must be.

Usage: capture_heard.py CALL.pcap DIGITS_DIR --sip-port 5060 [--law ulaw|alaw]
Prints one JSON object: rtp_port, packets (datagrams sent from it) and digits (in the order
found).
"""

import argparse
import array
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import heard  # noqa: E402  (the same recogniser as for the caller's recording)

FRAME = 160  # bytes of G.711 in a 20 ms packet; an SRTP tag after them is ignored


def datagrams(pcap, source_port):
    """The UDP payloads sent from `source_port`, in capture order."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", f"udp.srcport == {source_port}", "-T", "fields", "-e", "udp.payload"],
        check=True, capture_output=True, text=True,
    ).stdout
    return [bytes.fromhex(line.replace(":", "")) for line in out.split()]


def answered_rtp_port(pcap, sip_port):
    """The audio port of hotline's SDP answer: one call, so one port (retransmissions agree)."""
    ports = set()
    for message in datagrams(pcap, sip_port):
        ports.update(re.findall(rb"\r\nm=audio (\d+) ", message))
    if len(ports) != 1:
        raise SystemExit(f"capture_heard.py: expected one answered RTP port, found {sorted(ports)}")
    return int(ports.pop())


def payloads(pcap, port):
    """The RTP payloads of the datagrams hotline sent from `port`, in capture order."""
    for datagram in datagrams(pcap, port):
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
    ap.add_argument("--sip-port", type=int, required=True, help="hotline's SIP port")
    ap.add_argument("--law", choices=["ulaw", "alaw"], default="ulaw")
    args = ap.parse_args()
    port = answered_rtp_port(args.pcap, args.sip_port)
    decode = heard.ulaw_decode if args.law == "ulaw" else heard.alaw_decode
    samples = array.array("h")
    packets = 0
    for payload in payloads(args.pcap, port):
        packets += 1
        samples.extend(decode(b) for b in payload)
    digits = heard.digits_heard(samples, args.digits_dir, heard.Quantiser(decode))
    print(json.dumps({"rtp_port": port, "packets": packets, "digits": digits}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
