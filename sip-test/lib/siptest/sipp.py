"""Running one scenario with SIPp: its keys as a pcap, an RTP tap to hear the service, the logs."""

import subprocess
import threading
import time
from dataclasses import dataclass, field

from .audio import RtpTap, transcribe
from .inject import read_rows

_ports_lock = threading.Lock()
_ports_taken = set()


def free_port_block(ip, size):
    """A free even UDP port with the `size - 1` after it free too (SIPp binds media port + 2)."""
    import socket

    with _ports_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((ip, 0))
                base = probe.getsockname()[1] & ~1
            block = range(base, base + size)
            if any(p in _ports_taken or p > 65535 for p in block):
                continue
            sockets = []
            try:
                for p in block:
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sockets.append(s)
                    s.bind((ip, p))
            except OSError:
                continue
            finally:
                for s in sockets:
                    s.close()
            _ports_taken.update(block)
            return base
    raise RuntimeError("no free UDP ports for SIPp")


@dataclass
class Run:
    """What one scenario's SIPp run left behind."""
    returncode: int
    seconds: float
    workdir: object
    command: list
    # What the caller heard, one transcript per call (in the order the calls' audio began).
    transcripts: list = field(default_factory=list)
    account_codes: list = field(default_factory=list)
    error: str = None


def make_pcap(hotline, keys, out, inband=False):
    command = [str(hotline), "tools", "dtmf-pcap", "--digits", keys, "--out", str(out)]
    if inband:
        command.append("--inband")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"hotline tools dtmf-pcap failed: {result.stderr.strip()}")


def run(scenario, ctx, workdir):
    """Places the scenario's calls against ctx.target; never raises for a failed call."""
    xml = ctx.scenarios_dir / f"{scenario.name}.xml"
    csv = ctx.scenarios_dir / f"{scenario.name}.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    rows = read_rows(csv)
    keys = {row.keys for row in rows}
    if len(keys) != 1:
        return Run(1, 0, workdir, [], error=f"{csv.name}: every row must press the same keys (one pcap per scenario)")
    keys = keys.pop()
    if keys:
        make_pcap(ctx.hotline, keys, workdir / "keys.pcap", inband=scenario.inband)

    local_ip = ctx.trusted_ip if scenario.trusted_source else ctx.local_ip
    calls = max(1, len(scenario.outcomes))
    media_port = free_port_block(local_ip, 4)
    # SIPp's SDP names its media port, where its RTP comes from: the service sends there.
    sink = RtpTap(media_port)
    command = [
        "sipp", "-sf", str(xml), "-inf", str(csv),
        "-m", str(calls), "-l", "1",
        "-i", local_ip, "-p", str(free_port_block(local_ip, 1)),
        "-mi", local_ip, "-mp", str(media_port),
        "-cid_str", f"{scenario.name}-%u-%p@%s",
        "-trace_msg", "-trace_err", "-nostdin",
        "-timeout", f"{scenario.timeout}s", "-timeout_error",
    ]
    if scenario.no_default_behaviour:
        command.append("-nd")
    if ctx.transport == "tcp":
        # One TCP connection per call, as phones have; [transport] in the scenarios follows.
        command += ["-t", "t1"]
    target = ctx.targets[scenario.operator]
    command.append(f"{target[0]}:{target[1]}")
    (workdir / "command.txt").write_text(" ".join(command) + "\n")
    started = time.monotonic()
    with open(workdir / "sipp.out", "w") as out:
        try:
            returncode = subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                        timeout=scenario.timeout + 30).returncode
        except subprocess.TimeoutExpired:
            returncode = -1
    seconds = time.monotonic() - started
    time.sleep(0.3)  # the last RTP packets in flight
    sink.stop()
    transcripts = [transcribe(frames, ctx.clips) for frames in sink.calls()]
    return Run(returncode, seconds, workdir, command, transcripts,
               [row.account_code for row in rows])
