"""What a caller heard: RTP from the service decoded and matched against the prompt clips.

SIPp ignores the audio it receives, so the runner reads the service's RTP to SIPp's media port
off the wire (`RtpTap`, a packet socket: root or CAP_NET_RAW, which SIPp's pcap replay needs
anyway). It cannot point the service's RTP at a socket of its own instead: the service takes RTP
only from the address in the caller's SDP, or latches to where the caller's RTP comes from
(strict and symmetric RTP, docs/integrators.md), and SIPp's RTP comes from its media port — from
port 0 even, unless the SDP names `[media_port]`. The service sends every clip from its first sample on a 20 ms
frame boundary, so recognising a clip is a frame-by-frame comparison against the WAV it was
made from, with a tolerance for G.711 rounding (and for a PBX that transcodes on the way).
"""

import os
import socket
import struct
import threading
import wave
from pathlib import Path

FRAME = 160  # samples in 20 ms at 8 kHz
PCMU, PCMA = 0, 8
SILENT = 64  # a frame whose peak is below this is silence, not speech


def _ulaw_to_linear(byte):
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if sign else magnitude


def _alaw_to_linear(byte):
    byte ^= 0x55
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return magnitude if sign else -magnitude


DECODE = {
    PCMU: [_ulaw_to_linear(b) for b in range(256)],
    PCMA: [_alaw_to_linear(b) for b in range(256)],
}

# The clips of prompts/vi, by the names the transcript uses: prompts by file stem, digits as "0".."9".
PROMPTS = [
    "welcome", "rate_notice", "menu", "invalid_option", "enter_code", "invalid_code", "no_input",
    "mismatch", "new_password", "repeat_password", "goodbye", "anonymous", "too_many_attempts",
    "system_busy", "operator_offer", "agents_busy",
]
DIGITS = [str(d) for d in range(10)]


class Clip:
    """One prompt as 20 ms frames of linear samples, anchored at its first non-silent frame."""

    def __init__(self, name, samples):
        self.name = name
        padded = samples + [0] * (-len(samples) % FRAME)
        self.frames = [padded[i:i + FRAME] for i in range(0, len(padded), FRAME)]
        self.anchor = next((i for i, f in enumerate(self.frames) if _peak(f) >= SILENT), None)
        if self.anchor is not None:
            level = sum(abs(s) for s in self.frames[self.anchor]) / FRAME
            self.anchor_level = level


def _peak(frame):
    return max(abs(s) for s in frame)


def _read_wav(path):
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (8000, 1, 2):
            raise ValueError(f"{path}: expected 8 kHz mono 16-bit PCM")
        raw = wav.readframes(wav.getnframes())
    return list(struct.unpack(f"<{len(raw) // 2}h", raw))


def load_clips(prompts_dir):
    """Every clip the service can play, read from the same directory it plays them from."""
    prompts_dir = Path(prompts_dir)
    clips = [Clip(name, _read_wav(prompts_dir / f"{name}.wav")) for name in PROMPTS]
    clips += [Clip(name, _read_wav(prompts_dir / "digits" / f"{name}.wav")) for name in DIGITS]
    return [c for c in clips if c.anchor is not None]


def _close(received, expected):
    """G.711 keeps about 5 bits of precision: allow ~6 % of the frame's level, plus a floor."""
    level = sum(abs(s) for s in expected) / FRAME
    error = sum(abs(a - b) for a, b in zip(received, expected)) / FRAME
    return error <= 0.06 * level + 12


class Heard:
    """One clip in the transcript; `whole` is false when it was cut short (barge-in, hang-up)."""

    def __init__(self, name, whole):
        self.name, self.whole = name, whole

    def __repr__(self):
        return self.name if self.whole else f"{self.name}(cut)"


def transcribe(frames, clips):
    """The clips heard in `frames` (decoded 20 ms frames in order), in order.

    Several clips can open with the same words ("Quý khách vui lòng…" starts three prompts),
    so every clip whose first spoken frame matches is followed as far as it keeps matching,
    and the longest run wins.
    """
    heard, i = [], 0
    while i < len(frames):
        frame = frames[i]
        if _peak(frame) < SILENT:
            i += 1
            continue
        level = sum(abs(s) for s in frame) / FRAME
        best = None  # (frames matched, clip)
        for clip in clips:
            if not 0.5 * clip.anchor_level <= level <= 2 * clip.anchor_level:
                continue
            if not _close(frame, clip.frames[clip.anchor]):
                continue
            n = _run_length(frames, i - clip.anchor, clip)
            if best is None or n > best[0]:
                best = (n, clip)
        if best is None:
            i += 1
            continue
        n, clip = best
        heard.append(Heard(clip.name, n == len(clip.frames)))
        i = i - clip.anchor + max(n, clip.anchor + 1)
    return heard


def _run_length(frames, start, clip):
    """How many of the clip's frames, from its anchor on, match `frames` from `start`."""
    n = clip.anchor
    while n < len(clip.frames) and start + n < len(frames) and _close(frames[start + n], clip.frames[n]):
        n += 1
    return n


class RtpTap:
    """Collects the RTP the service sends to `port` (SIPp's media port) during one scenario."""

    def __init__(self, port):
        self.port = port
        self.packets = []  # (ssrc, payload type, sequence, payload)
        _Wire.shared().listen(port, self.packets)

    def stop(self):
        """Stops once every datagram that reached the port so far has been read: on a loaded
        machine the reader thread lags behind the wire, and the tail of a call (its goodbye)
        would otherwise be cut off."""
        _Wire.shared().flush(self.port)
        _Wire.shared().forget(self.port)

    def calls(self):
        """Per call (one SSRC each, in order of first packet): decoded frames in sequence order."""
        ssrcs = list(dict.fromkeys(p[0] for p in self.packets))
        return [_frames([p[1:] for p in self.packets if p[0] == ssrc]) for ssrc in ssrcs]


class _Wire:
    """One packet socket for the whole run, reading every IPv4 UDP datagram on the machine and
    handing RTP to the tap of its destination port (each scenario's SIPp has a port of its own)."""

    _instance = None
    _lock = threading.Lock()

    @classmethod
    def shared(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    # A marker datagram: once the reader has seen it, it has read everything sent before it.
    FLUSH = b"rtptap-flush:"
    # Every UDP datagram on the machine passes through this one socket: a queue deep enough for
    # seconds of all the scenarios' RTP while the reader is descheduled (root may force it).
    RCVBUF = 64 * 1024 * 1024
    SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

    def __init__(self):
        eth_p_ip = 0x0800
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(eth_p_ip))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, self.SO_RCVBUFFORCE, self.RCVBUF)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.RCVBUF)
        self.taps = {}
        self.flushes = {}
        threading.Thread(target=self._run, daemon=True).start()

    def listen(self, port, packets):
        self.taps[port] = packets

    def forget(self, port):
        self.taps.pop(port, None)

    def flush(self, port, timeout=10.0):
        """Returns once the reader has read a marker sent to `port` now (or after `timeout`)."""
        marker = self.FLUSH + os.urandom(8).hex().encode()
        seen = threading.Event()
        self.flushes[marker] = seen
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(marker, ("127.0.0.1", port))
        seen.wait(timeout)
        self.flushes.pop(marker, None)

    def _run(self):
        while True:
            data, address = self.sock.recvfrom(65535)
            # On loopback every datagram is seen twice, leaving and arriving: keep the arrival.
            if address[2] == socket.PACKET_OUTGOING or len(data) < 20:
                continue
            header = (data[0] & 0x0F) * 4
            if data[0] >> 4 != 4 or data[9] != 17 or len(data) < header + 8:
                continue
            payload = data[header + 8:]
            if payload.startswith(self.FLUSH):
                seen = self.flushes.get(payload)
                if seen:
                    seen.set()
                continue
            packets = self.taps.get(struct.unpack_from("!H", data, header + 2)[0])
            parsed = parse_rtp(payload) if packets is not None else None
            if parsed:
                packets.append(parsed)


def _frames(packets):
    """Audio frames decoded to linear samples, in sequence order (wrap-aware)."""
    audio = [p for p in packets if p[0] in DECODE]
    ordered, last, extended = [], None, 0
    for pt, seq, payload in audio:
        if last is not None:
            extended += (seq - last + 0x8000) % 0x10000 - 0x8000
        last = seq
        ordered.append((extended, pt, payload))
    ordered.sort(key=lambda p: p[0])
    return [[DECODE[pt][b] for b in payload] for _, pt, payload in ordered]


def parse_rtp(data):
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    csrc = data[0] & 0x0F
    offset = 12 + 4 * csrc
    if data[0] & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    payload = data[offset:]
    if data[0] & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    ssrc = struct.unpack_from("!I", data, 8)[0]
    return ssrc, data[1] & 0x7F, struct.unpack_from("!H", data, 2)[0], payload
