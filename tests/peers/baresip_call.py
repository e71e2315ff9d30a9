#!/usr/bin/env python3
"""Place one call to hotline with baresip and keep what the caller heard.

baresip runs with a throw-away config directory: no registration, PCMU/PCMA only,
its microphone a long silent WAV (aufile: the call would end when it runs out, so it
is longer than any call), the received audio recorded by the sndfile module, and
commands sent over ctrl_tcp (netstring-framed JSON). The script dials, waits for
the call to be established, presses the menu key and then the code, each as RFC 4733
telephone-events, and waits for hotline to hang up.

Usage: baresip_call.py --target sip:8@127.0.0.1:5060 --from 0912345678 \
           --menu 8 --code 0123456789# --workdir DIR [--menc srtp|srtp-mand]
           [--transport tls --cafile CERT.pem]
--menc encrypts the media with baresip's srtp module and SDES keys: `srtp` offers
RTP/AVP with a=crypto (SRTP if the answer takes it), `srtp-mand` offers RTP/SAVP.
With --transport tls the target names transport=tls and baresip trusts the PEM certificate
CERT.pem (its sip_cafile); nothing else changes.
It prints the path of the recording (the caller's received audio) on success and
exits 1 with a reason otherwise.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import wave

SAMPLE_RATE = 8000


def free_port(kind):
    """A port the kernel says is free now (small race, acceptable for a test)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_silence(path, seconds):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(b"\0\0" * SAMPLE_RATE * seconds)


def write_config(confdir, sip_port, ctrl_port, mic, recdir, user):
    config = f"""\
poll_method epoll
sip_listen 127.0.0.1:{sip_port}
call_local_timeout 120
audio_player aubridge,nowhere
audio_source aufile,{mic}
audio_alert aubridge,nowhere
ausrc_format s16
auplay_format s16
auenc_format s16
audec_format s16
audio_buffer 20-160
jitter_buffer_delay 0-10
rtp_ports 40000-40999
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {recdir}
"""
    with open(os.path.join(confdir, "config"), "w") as f:
        f.write(config)
    # No registration (regint=0); offer PCMU first, as a phone on a VN trunk would.
    with open(os.path.join(confdir, "accounts"), "w") as f:
        f.write(f"<sip:{user}@127.0.0.1>;regint=0;audio_codecs=PCMU,PCMA\n")


def add_media_encryption(confdir, menc):
    """SDES-keyed SRTP (`--menc`): the srtp module, and the account's mediaenc."""
    with open(os.path.join(confdir, "config"), "a") as f:
        f.write("module srtp.so\n")
    path = os.path.join(confdir, "accounts")
    with open(path) as f:
        account = f.read().rstrip("\n")
    with open(path, "w") as f:
        f.write(f"{account};mediaenc={menc}\n")


class Ctrl:
    """ctrl_tcp client: netstrings ("<len>:<json>,") both ways."""

    def __init__(self, port, deadline):
        self.buf = b""
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("baresip's ctrl_tcp never accepted a connection")
                time.sleep(0.1)

    def send(self, command, params=""):
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def next_message(self, deadline):
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                length = int(self.buf[:colon])
                end = colon + 1 + length
                if len(self.buf) > end:
                    body = self.buf[colon + 1 : end]
                    self.buf = self.buf[end + 1 :]
                    return json.loads(body)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(min(remaining, 1.0))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not data:
                return None
            self.buf += data

    def wait_event(self, wanted, deadline, log):
        """Wait for an event of one of the `wanted` types; returns it or None."""
        while True:
            msg = self.next_message(deadline)
            if msg is None:
                return None
            log.write(json.dumps(msg) + "\n")
            if msg.get("event") and msg.get("type") in wanted:
                return msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--from", dest="user", required=True)
    ap.add_argument("--menu", default="8")
    ap.add_argument("--code", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--timeout", type=float, default=90)
    ap.add_argument("--transport", choices=["udp", "tls"], default="udp")
    ap.add_argument("--cafile", help="with --transport tls: the certificate baresip trusts")
    ap.add_argument("--menc", choices=["srtp", "srtp-mand"])
    args = ap.parse_args()

    work = os.path.abspath(args.workdir)
    confdir = os.path.join(work, "conf")
    recdir = os.path.join(work, "rec")
    os.makedirs(confdir, exist_ok=True)
    os.makedirs(recdir, exist_ok=True)
    mic = os.path.join(work, "silence.wav")
    write_silence(mic, 300)
    write_config(confdir, free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM), mic, recdir, args.user)
    if args.transport == "tls":
        with open(os.path.join(confdir, "config"), "a") as f:
            f.write(f"sip_cafile {os.path.abspath(args.cafile)}\n")
    if args.menc:
        add_media_encryption(confdir, args.menc)

    deadline = time.monotonic() + args.timeout
    events = open(os.path.join(work, "events.log"), "w")
    with open(os.path.join(work, "baresip.log"), "w") as out:
        proc = subprocess.Popen(
            ["baresip", "-f", confdir], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        ctrl = Ctrl(int(open(os.path.join(confdir, "config")).read().split("ctrl_tcp_listen 127.0.0.1:")[1].split()[0]), deadline)
        ctrl.send("dial", args.target)
        if ctrl.wait_event({"CALL_ESTABLISHED"}, deadline, events) is None:
            return fail("the call was never established (see baresip.log)")
        time.sleep(1.5)  # the greeting starts; a key pressed during it barges in
        ctrl.send("sndcode", args.menu)
        time.sleep(2.0)  # "enter your code, then #" starts
        ctrl.send("sndcode", args.code)
        closed = ctrl.wait_event({"CALL_CLOSED"}, deadline, events)
        if closed is None:
            return fail("hotline never hung up")
        # The recording is closed when the call's audio is torn down; give it a moment.
        time.sleep(0.5)
        ctrl.send("quit")
    except (RuntimeError, OSError, ValueError) as e:
        return fail(str(e))
    finally:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=5)
    recordings = sorted(p for p in os.listdir(recdir) if p.endswith("-dec.wav"))
    if len(recordings) != 1:
        return fail(f"expected one received-audio recording in {recdir}, found {recordings}")
    print(os.path.join(recdir, recordings[0]))
    return 0


def fail(reason):
    print(f"baresip_call: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
