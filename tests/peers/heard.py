#!/usr/bin/env python3
"""Say what a caller heard: which digit clips, in which order, in a recording of a call.

hotline sends each prompt as G.711; a softphone decodes it, so the recording holds the
prompt's samples after one G.711 round trip. Decoders differ by a few units (baresip's
μ-law table, for one, gives ±2 where others give 0), so both the recording and each
digit clip are mapped to their nearest G.711 codes and compared as byte strings: a
16-sample window of a clip found in the recording votes for "this clip starts here".
Several windows agreeing on one start is a detection — an exact, stdlib-only check
that cannot mistake one spoken digit for another, and needs no numpy.

Usage: heard.py RECORDING.wav DIGITS_DIR [--law ulaw|alaw]
Prints one JSON object: duration_s, active_s (seconds above -40 dBFS), peak_dbfs, and
digits (a string, in the order heard).
"""

import argparse
import array
import bisect
import json
import math
import os
import sys
import wave

WINDOW = 16  # samples per probe: long enough to be unique among 10 clips
STEP = 80  # a probe every 10 ms of the clip
MIN_VOTES = 5  # probes that must agree on one start
LOUD = 512  # probes are taken only where the clip is not near-silent


def ulaw_decode(code):
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 7, code & 0x0F
    value = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -value if sign else value


def alaw_decode(code):
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 7, code & 0x0F
    value = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return value if sign else -value


class Quantiser:
    """Maps a linear sample to the G.711 code whose decoded value is nearest."""

    def __init__(self, decode):
        pairs = sorted((decode(code), code) for code in range(256))
        self.values = [v for v, _ in pairs]
        self.codes = [c for _, c in pairs]

    def code(self, sample):
        i = bisect.bisect_left(self.values, sample)
        if i == len(self.values) or (i > 0 and sample - self.values[i - 1] <= self.values[i] - sample):
            i -= 1
        return self.codes[i]

    def encode(self, samples):
        return bytes(self.code(s) for s in samples)


def read_mono16(path):
    with wave.open(path, "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        samples = array.array("h", w.readframes(w.getnframes()))
        if sys.byteorder == "big":
            samples.byteswap()
        return samples, w.getframerate()


def level_report(samples, rate):
    frame = rate // 50  # 20 ms
    threshold = 32768 * 10 ** (-40 / 20)
    active = 0
    for start in range(0, len(samples) - frame + 1, frame):
        chunk = samples[start : start + frame]
        if math.sqrt(sum(s * s for s in chunk) / frame) > threshold:
            active += 1
    peak = max((abs(s) for s in samples), default=0)
    return {
        "duration_s": round(len(samples) / rate, 2),
        "active_s": round(active * frame / rate, 2),
        "peak_dbfs": round(20 * math.log10(peak / 32768), 1) if peak else None,
    }


def find_clip(heard, clip_codes, clip_samples):
    """Starts in `heard` where at least MIN_VOTES probes of the clip agree."""
    votes = {}
    for k in range(0, len(clip_codes) - WINDOW, STEP):
        if max(abs(s) for s in clip_samples[k : k + WINDOW]) < LOUD:
            continue
        probe = clip_codes[k : k + WINDOW]
        at = heard.find(probe)
        while at != -1:
            votes[at - k] = votes.get(at - k, 0) + 1
            at = heard.find(probe, at + 1)
    return [start for start, n in votes.items() if n >= MIN_VOTES]


def digits_heard(recording, digits_dir, quantiser):
    heard = quantiser.encode(recording)
    found = []
    for digit in "0123456789":
        clip, _ = read_mono16(os.path.join(digits_dir, f"{digit}.wav"))
        codes = quantiser.encode(clip)
        found += [(start, digit) for start in find_clip(heard, codes, clip)]
    found.sort()
    return "".join(d for _, d in found)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recording")
    ap.add_argument("digits_dir")
    ap.add_argument("--law", choices=["ulaw", "alaw"], default="ulaw")
    args = ap.parse_args()
    samples, rate = read_mono16(args.recording)
    if rate != 8000:
        print(f"heard.py: {args.recording} is {rate} Hz, expected 8000", file=sys.stderr)
        return 1
    report = level_report(samples, rate)
    quantiser = Quantiser(ulaw_decode if args.law == "ulaw" else alaw_decode)
    report["digits"] = digits_heard(samples, args.digits_dir, quantiser)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
