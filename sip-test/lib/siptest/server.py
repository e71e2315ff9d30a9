"""Starting and stopping a hotline server of the runner's own: fresh database, free ports."""

import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

# The scenarios that need a non-default service are served by one server configured for all:
# ringing before answer (cancel_before_answer), a short T1 so no_ack ends in 64 x 100 ms,
# and a second loopback address as the trusted peer (pai_from_trusted_peer).
ANSWER_DELAY_MS = 1000
T1_MS = 100
TRUSTED_PEER = "127.0.0.2"
# Where the node serving the transfer scenarios sends its REFERs (ivr.operator_uri); the
# scenarios check the Refer-To against it.
OPERATOR_URI = "sip:agents@127.0.0.1"


def free_udp_port(ip="127.0.0.1", tcp_too=False):
    """A free UDP port; with `tcp_too`, one free for TCP as well (SIP over both on one port)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
            port = s.getsockname()[1]
        if not tcp_too:
            return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            try:
                t.bind((ip, port))
                return port
            except OSError:
                continue
    raise RuntimeError("no port free for both UDP and TCP")


def options_ping(target, timeout=0.5):
    """True when something answers a SIP OPTIONS at target (host, port)."""
    host, port = target
    call_id = uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()
        msg = (
            f"OPTIONS sip:ping@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local[0]}:{local[1]};branch=z9hG4bK{call_id[:12]};rport\r\n"
            f"From: <sip:sip-test@{local[0]}>;tag={call_id[:8]}\r\n"
            f"To: <sip:ping@{host}>\r\nCall-ID: ping-{call_id}\r\nCSeq: 1 OPTIONS\r\n"
            f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        s.settimeout(timeout)
        s.sendto(msg.encode(), (host, port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0 ")
        except OSError:
            return False


class OwnServer:
    """`hotline serve` on a fresh temporary database, seeded from the suite's accounts."""

    def __init__(self, hotline, prompts_dir, accounts_csv, log_path, rtp_ports=1000, tcp=False, **overrides):
        """`overrides`: HOTLINE_* variables over the suite's, e.g. HOTLINE_SIP__ANSWER_DELAY_MS="0";
        `tcp`: listen for SIP over TCP too, on the UDP port's number."""
        self.hotline = hotline
        self.tmp = tempfile.TemporaryDirectory(prefix="hotline-sip-test-")
        self.port = free_udp_port(tcp_too=tcp)
        rtp_base = random.randrange(20000, 64000 - rtp_ports, 1000)
        self.env = dict(
            os.environ,
            HOTLINE_SIP__LISTEN=f"127.0.0.1:{self.port}",
            HOTLINE_HTTP__LISTEN="127.0.0.1:0",
            HOTLINE_SIP__ANSWER_DELAY_MS=str(ANSWER_DELAY_MS),
            HOTLINE_SIP__T1_MS=str(T1_MS),
            HOTLINE_SIP__TRUSTED_PEERS=TRUSTED_PEER,
            HOTLINE_DATABASE__URL=f"sqlite://{self.tmp.name}/hotline.db",
            HOTLINE_PROMPTS__DIR=str(prompts_dir),
            HOTLINE_MEDIA__RTP_PORT_MIN=str(rtp_base),
            HOTLINE_MEDIA__RTP_PORT_MAX=str(rtp_base + rtp_ports - 1),
            HOTLINE_SECURITY__PEPPER="sip-test-pepper-not-a-secret",
            HOTLINE_LOG__FILTER="info",
        )
        if tcp:
            self.env["HOTLINE_SIP__TCP_LISTEN"] = f"127.0.0.1:{self.port}"
        self.env.update(overrides)
        self.accounts_csv = accounts_csv
        self.log_path = log_path
        self.process = None
        self.t1_ms = T1_MS

    @property
    def target(self):
        return ("127.0.0.1", self.port)

    def admin(self, *args, check=True):
        """Runs `hotline ARGS` against this server's database."""
        return subprocess.run([str(self.hotline), *args], env=self.env, check=check,
                              capture_output=True, text=True)

    def start(self):
        self.admin("db", "migrate")
        self.admin("accounts", "import", str(self.accounts_csv))
        log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(self.hotline), "serve"], env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hotline serve exited with {self.process.returncode}; see {self.log_path}")
            if options_ping(self.target):
                return
            time.sleep(0.2)
        raise RuntimeError(f"hotline serve did not answer OPTIONS within 15 s; see {self.log_path}")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self):
        self.tmp.cleanup()
