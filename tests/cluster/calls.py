#!/usr/bin/env python3
"""Places branch-8 calls through the proxy at once, hears each, and checks the password it heard.

    calls.py --hotline BIN --proxy IP:PORT --workdir DIR [--stagger-ms MS] NAME:PHONE:CODE ...

Each call is one SIPp run of call.xml (caller PHONE keys 8, then CODE and #) with its own RTP
sink: the node's audio goes to a socket here and is matched against the prompt clips
(sip-test/lib/siptest/audio.py). When the caller heard a new password, it is checked with
`hotline accounts check-password` (against the database in the environment, like the nodes),
and so is the same password with its last digit changed, which must not verify.

Prints one JSON line per call, in the order given:
    {"name", "call_id", "sipp": exit status, "heard": [clip names, digits as <digit>], "password": STATE}
STATE is "verified", "none" (no password heard), or "bad: why". The password itself is never
printed. Exit status 0 whatever the calls did: the caller of this script judges them.
Needs sipp, python3, the hotline binary and the prompts the nodes play.
"""

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

here = Path(__file__).resolve().parent
root = here.parent.parent
sys.path.insert(0, str(root / "sip-test" / "lib"))

from siptest.audio import RtpTap, load_clips, transcribe  # noqa: E402
from siptest.sipp import free_port_block  # noqa: E402

DIGITS = set("0123456789")


def password_state(hotline, names, code):
    """'verified', 'none' or 'bad: …' for what the caller heard."""
    if "new_password" not in names:
        return "none"

    def six_after(prompt):
        if prompt not in names:
            return None
        digits = names[names.index(prompt) + 1:][:6]
        return "".join(digits) if len(digits) == 6 and set(digits) <= DIGITS else None

    first, second = six_after("new_password"), six_after("repeat_password")
    if first is None or second is None or first != second:
        return "bad: the password was not read out twice the same"

    def verifies(password):
        result = subprocess.run([hotline, "accounts", "check-password", "--code", code,
                                 "--password", password], capture_output=True)
        return result.returncode == 0

    if not verifies(first):
        return "bad: the password read out does not verify"
    if verifies(first[:-1] + str((int(first[-1]) + 1) % 10)):
        return "bad: check-password accepts a password that was not read out"
    return "verified"


def place(spec, args, clips, results, index):
    name, phone, code = spec.split(":")
    workdir = Path(args.workdir) / name
    workdir.mkdir(parents=True, exist_ok=True)
    # The SDP names SIPp's media port, where its keys come from: the node sends there, and the
    # tap reads it off the wire (the node takes RTP only from the SDP address, or latches).
    media_port = free_port_block(args.local_ip, 4)
    sink = RtpTap(media_port)
    call_id = f"{name}@cluster-test"
    command = [
        "sipp", "-sf", str(here / "call.xml"), "-m", "1",
        "-key", "caller", phone, "-key", "code", f"{code}#",
        "-i", args.local_ip, "-p", str(free_port_block(args.local_ip, 1)),
        "-mi", args.local_ip, "-mp", str(media_port),
        "-cid_str", call_id, "-trace_msg", "-trace_err", "-nostdin",
        "-timeout", f"{args.timeout}s", "-timeout_error", args.proxy,
    ]
    (workdir / "command.txt").write_text(" ".join(command) + "\n")
    with open(workdir / "sipp.out", "w") as out:
        try:
            rc = subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                timeout=args.timeout + 30).returncode
        except subprocess.TimeoutExpired:
            rc = -1
    time.sleep(0.3)  # the last RTP packets in flight
    sink.stop()
    calls = sink.calls()
    names = [h.name for h in transcribe(calls[-1], clips)] if calls else []
    heard = ["<digit>" if n in DIGITS else n for n in names]  # the password stays here
    results[index] = {"name": name, "call_id": call_id, "sipp": rc, "heard": heard,
                      "password": password_state(args.hotline, names, code)}


def place_safely(spec, args, clips, results, index):
    try:
        place(spec, args, clips, results, index)
    except Exception as e:  # one broken call must not hide the others' results
        results[index] = {"name": spec.split(":")[0], "call_id": None, "sipp": -1, "heard": [],
                          "password": f"bad: the driver failed: {e!r}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--proxy", required=True, help="IP:PORT the INVITEs go to")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--hotline", default=str(root / "target" / "release" / "hotline"))
    parser.add_argument("--local-ip", default="127.0.0.1")
    parser.add_argument("--prompts", default=str(root / "prompts" / "vi"))
    parser.add_argument("--stagger-ms", type=int, default=200, help="between call starts")
    parser.add_argument("--timeout", type=int, default=90, help="seconds per call")
    parser.add_argument("calls", nargs="+", metavar="NAME:PHONE:CODE")
    args = parser.parse_args()
    clips = load_clips(args.prompts)
    results = [None] * len(args.calls)
    threads = []
    for i, spec in enumerate(args.calls):
        thread = threading.Thread(target=place_safely, args=(spec, args, clips, results, i))
        thread.start()
        threads.append(thread)
        time.sleep(args.stagger_ms / 1000)
    for thread in threads:
        thread.join()
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
