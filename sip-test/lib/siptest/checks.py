"""The checks made after the calls: CDRs, what was heard, the stored password, SIP traces."""

import csv
import io
import math
import re
from datetime import datetime

from .audio import DIGITS


class Failed(Exception):
    """A check failed; the message is the reason printed on the scenario's line."""


def read_cdrs(export_csv):
    return list(csv.DictReader(io.StringIO(export_csv)))


def cdrs_of(name, cdrs):
    """The scenario's CDRs in call order, found by the Call-ID prefix SIPp was given."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)-")
    mine = [(int(m.group(1)), row) for row in cdrs if (m := pattern.match(row["call_id"]))]
    return [row for _, row in sorted(mine, key=lambda pair: pair[0])]


def check_cdrs(scenario, rows, rate, currency):
    outcomes = [row["outcome"] for row in rows]
    if outcomes != scenario.outcomes:
        raise Failed(f"CDR outcomes {outcomes or 'none'}, expected {scenario.outcomes}")
    for n, row in enumerate(rows, 1):
        billed, amount, duration = int(row["billed_minutes"]), int(row["amount"]), int(row["duration_ms"])
        if billed != math.ceil(duration / 60000):
            raise Failed(f"call {n}: billed {billed} min for {duration} ms (expected ceil(duration / 60 s))")
        if amount != billed * rate or row["currency"] != currency:
            raise Failed(f"call {n}: amount {amount} {row['currency']} for {billed} min at {rate} {currency}/min")
        if scenario.billed is not None and billed != scenario.billed:
            raise Failed(f"call {n}: billed {billed} min ({duration} ms), expected {scenario.billed}")


def check_no_cdr(name, cdrs, billed_only):
    rows = cdrs_of(name, cdrs)
    if billed_only:
        rows = [r for r in rows if r["billed_minutes"] not in ("", "0")]
    if rows:
        what = "a billed CDR" if billed_only else "a CDR"
        raise Failed(f"{what} exists: {rows[0]['call_id']} outcome {rows[0]['outcome'] or 'open'}")


def _matches(expected, heard):
    return heard in DIGITS if expected == "<digit>" else heard == expected


def check_heard(scenario, transcripts):
    if not scenario.heard:
        return
    if not transcripts:
        raise Failed("heard no audio from the service")
    heard = [h.name for h in transcripts[-1]]
    i = 0
    for name in heard:
        if i < len(scenario.heard) and _matches(scenario.heard[i], name):
            i += 1
    if i < len(scenario.heard):
        raise Failed(f"heard {' '.join(heard) or 'nothing'}; missing {scenario.heard[i]!r} "
                     f"(expected in order: {' '.join(scenario.heard)})")
    if not scenario.password and any("new_password" in [h.name for h in t] for t in transcripts):
        raise Failed("a password was read out, but this scenario must not reset")


def password_heard(transcript):
    """The six digits after "new_password" and after "repeat_password"; they must agree."""
    names = [h.name for h in transcript]

    def six_after(prompt):
        if prompt not in names:
            raise Failed(f"no {prompt!r} heard")
        digits = names[names.index(prompt) + 1:][:6]
        if len(digits) != 6 or not all(d in DIGITS for d in digits):
            raise Failed(f"after {prompt!r} heard {' '.join(digits)}, not six digits")
        return "".join(digits)

    first, second = six_after("new_password"), six_after("repeat_password")
    if first != second:
        raise Failed(f"the password was read as {first} then as {second}")
    return first


def check_password(transcripts, account_code, check_password):
    """The heard password verifies; a different one does not (so the check can fail at all)."""
    password = password_heard(transcripts[-1])
    if not check_password(account_code, password):
        raise Failed(f"the password read out does not verify for account {account_code}")
    other = password[:-1] + str((int(password[-1]) + 1) % 10)
    if check_password(account_code, other):
        raise Failed(f"check-password accepts a password that was not read out ({account_code})")


_BLOCK = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\s*$", re.M)


def sip_trace(messages_log):
    """(time, direction, first line, CSeq) for each message in a SIPp -trace_msg log."""
    text = messages_log.read_text(errors="replace")
    parts = _BLOCK.split(text)
    out = []
    for stamp, body in zip(parts[1::2], parts[2::2]):
        lines = [l for l in body.strip().splitlines() if l.strip()]
        if len(lines) < 2:
            continue
        direction = "in" if "received" in lines[0] else "out"
        cseq = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("cseq:")), "")
        out.append((datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f"), direction, lines[1].strip(), cseq))
    return out


def check_no_ack(workdir, t1_ms):
    """The 200 OK was retransmitted, then a BYE came about 64*T1 after the first 200."""
    logs = list(workdir.glob("*_messages.log"))
    if not logs:
        raise Failed("no SIPp message trace")
    trace = sip_trace(logs[0])
    oks = [t for t, d, first, cseq in trace if d == "in" and first.startswith("SIP/2.0 200") and cseq.endswith("INVITE")]
    byes = [t for t, d, first, _ in trace if d == "in" and first.startswith("BYE ")]
    if len(oks) < 2:
        raise Failed(f"the 200 OK was received {len(oks)} time(s); expected retransmissions")
    if not byes:
        raise Failed("no BYE from the service after the unacknowledged 200 OK")
    waited = (byes[0] - oks[0]).total_seconds()
    timer_h = 64 * t1_ms / 1000
    if not 0.9 * timer_h <= waited <= timer_h + 5:
        raise Failed(f"BYE came {waited:.1f} s after the 200 OK; expected about 64*T1 = {timer_h:.1f} s")
