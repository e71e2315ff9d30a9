"""sip-test/run: places every scenario's calls, checks them, prints one line each and a total."""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from . import checks, sipp
from .audio import load_clips
from .scenarios import BY_NAME, SCENARIOS
from .server import OPERATOR_URI, TRUSTED_PEER, OwnServer

SIP_TEST = Path(__file__).resolve().parents[2]
REPO = SIP_TEST.parent


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="sip-test/run",
        description="Places real SIP calls with SIPp for every outcome of the hotline and checks "
                    "each one's CDR, what the caller heard and the stored password.")
    p.add_argument("--target", metavar="HOST:PORT",
                   help="a hotline someone else started (default: start our own on free ports)")
    p.add_argument("--only", metavar="NAME[,NAME]", help="run only these scenarios")
    p.add_argument("--transport", choices=["udp", "tcp"], default="udp",
                   help="SIP over UDP (default) or TCP (SIPp -t t1, one connection per call; our own "
                        "server then also listens on TCP, sip.tcp_listen, on the same port)")
    p.add_argument("--config", metavar="FILE",
                   help="with --target: the target's hotline config, so its CDRs and passwords "
                        "can be read (without it only SIP and audio are checked)")
    p.add_argument("--hotline", metavar="BIN", default=os.environ.get("HOTLINE_BIN", REPO / "target/release/hotline"),
                   help="the hotline binary (default target/release/hotline; env HOTLINE_BIN)")
    p.add_argument("--prompts", metavar="DIR", default=REPO / "prompts/vi",
                   help="the clips the service plays, to recognise them (default prompts/vi)")
    p.add_argument("--local-ip", metavar="IP", help="our address as the target sees it")
    p.add_argument("--trusted-ip", metavar="IP",
                   help="with --target: a local address in the target's sip.trusted_peers "
                        "(for pai_from_trusted_peer; default: --local-ip)")
    p.add_argument("--t1-ms", type=int, default=None, help="the target's sip.t1_ms (default 500)")
    p.add_argument("--rate", type=int, default=1000, help="billing.rate_per_minute (default 1000)")
    p.add_argument("--currency", default="VND", help="billing.currency (default VND)")
    p.add_argument("--server-env", metavar="KEY=VALUE", action="append", default=[],
                   help="without --target: a HOTLINE_* setting for our server (repeatable), e.g. "
                        "to watch a scenario fail when the behaviour changes")
    p.add_argument("--logs", metavar="DIR", help="where to leave the logs of failed scenarios")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return p.parse_args(argv)


def check_tools(args, need_hotline):
    problems = []
    if shutil.which("sipp") is None:
        problems.append("sipp not found: install SIPp, the Debian/Ubuntu package sip-tester "
                        "(sudo apt-get install sip-tester)")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        problems.append("SIPp replays the DTMF pcaps on a raw socket: run as root, or once "
                        "`sudo setcap cap_net_raw+ep $(command -v sipp)`")
    if need_hotline and not Path(args.hotline).is_file():
        problems.append(f"{args.hotline} not found: build it first with `cargo build --release --locked` "
                        "(or point --hotline at a binary)")
    if not (Path(args.prompts) / "welcome.wav").is_file():
        problems.append(f"{args.prompts}: no prompts to recognise (--prompts DIR)")
    return problems


def local_ip_towards(host):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((host, 5060))
        return s.getsockname()[0]


def selected(args):
    if not args.only:
        return SCENARIOS
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        sys.exit(f"sip-test/run: unknown scenario {', '.join(unknown)}; see --list")
    return [BY_NAME[n] for n in names]


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.list:
        for s in SCENARIOS:
            print(s.name)
        return 0
    scenarios = selected(args)
    own = args.target is None
    problems = check_tools(args, need_hotline=own or args.config is not None)
    if problems:
        for problem in problems:
            print(f"sip-test/run: {problem}", file=sys.stderr)
        return 2

    logs = Path(args.logs) if args.logs else SIP_TEST / "logs" / datetime.now().strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)
    servers = {}
    if own:
        servers = start_own_servers(args, scenarios, logs)
        if servers is None:
            return 2
        first = next(iter(servers.values()))
        targets = {kind: server.target for kind, server in servers.items()}
        local_ip, trusted_ip, t1_ms = "127.0.0.1", TRUSTED_PEER, first.t1_ms
        # Passwords are reset only on the suite's node; every node's CDRs are read.
        admin = (servers.get(False) or first).admin
        cdr_admins = [server.admin for server in servers.values()]
        where = ", ".join(f"127.0.0.1:{server.port}" + (f" ({OPERATOR_URI} for key 0)" if kind else "")
                          for kind, server in servers.items())
        print(f"hotline sip-test: {len(scenarios)} scenario(s) over {args.transport.upper()} against our own "
              f"server(s) at {where} "
              f"(fresh databases, accounts from sip-test/accounts.csv)")
    else:
        host, _, port = args.target.rpartition(":")
        target = (socket.gethostbyname(host), int(port))
        targets = {False: target, True: target}
        local_ip = args.local_ip or local_ip_towards(target[0])
        trusted_ip = args.trusted_ip or local_ip
        t1_ms = args.t1_ms or 500
        admin = None
        if args.config:
            def admin(*a, check=True):
                return subprocess.run([str(args.hotline), "--config", args.config, *a], check=check,
                                      capture_output=True, text=True)
        cdr_admins = [admin] if admin else []
        print(f"hotline sip-test: {len(scenarios)} scenario(s) against {args.target}.\n"
              f"  It expects the accounts of sip-test/accounts.csv; seed them with\n"
              f"    hotline --config <its config> accounts import sip-test/accounts.csv\n"
              f"  and defaults for ivr.*, billing.* and security.*; cancel_before_answer needs "
              f"sip.answer_delay_ms >= 1000,\n  pai_from_trusted_peer needs {trusted_ip} in sip.trusted_peers, "
              f"transfer_* need ivr.operator_uri = \"{OPERATOR_URI}\".")
        if admin is None:
            print("  No --config: CDRs and passwords are not checked, only SIP and what was heard.")

    ctx = SimpleNamespace(targets=targets, local_ip=local_ip, trusted_ip=trusted_ip, transport=args.transport,
                          hotline=Path(args.hotline), scenarios_dir=SIP_TEST / "scenarios",
                          clips=load_clips(args.prompts))
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=len(scenarios)) as pool:
            runs = list(pool.map(lambda s: _run_one(s, ctx, logs / s.name), scenarios))
    finally:
        for server in servers.values():
            server.stop()
    cdrs = None
    if admin is not None:
        time.sleep(0 if servers else 1)  # a target closes its CDRs just after the last BYE
        cdrs = [row for cdr_admin in cdr_admins for row in checks.read_cdrs(cdr_admin("cdr", "export").stdout)]

    def verifies(code, password):
        return admin("accounts", "check-password", "--code", code, "--password", password,
                     check=False).returncode == 0

    passed = failed = 0
    for scenario, run in zip(scenarios, runs):
        reason = verdict(scenario, run, cdrs, verifies if admin else None, args, t1_ms)
        if reason is None:
            passed += 1
            shutil.rmtree(run.workdir, ignore_errors=True)
            print(f"{scenario.name:<32} PASS  ({run.seconds:.0f} s)")
        else:
            failed += 1
            (run.workdir / "reason.txt").write_text(reason + "\n")
            print(f"{scenario.name:<32} FAIL  {reason}")
    print(f"{passed} passed, {failed} failed  ({time.monotonic() - started:.0f} s)")
    if failed:
        print(f"SIPp logs of the failed scenarios: {logs}")
    else:
        for server in servers.values():
            server.log_path.unlink(missing_ok=True)
        try:
            logs.rmdir()
        except OSError:
            pass
    for server in servers.values():
        server.cleanup()
    return 1 if failed else 0


def start_own_servers(args, scenarios, logs):
    """Our own servers, keyed by whether they offer an agent: the suite's node for the ordinary
    scenarios, and one with ivr.operator_uri set for the transfer scenarios (each only when a
    selected scenario needs it). `--server-env` applies to both, last. None if one failed."""
    overrides = dict(item.split("=", 1) for item in args.server_env if "=" in item)
    prompts, accounts = Path(args.prompts).resolve(), SIP_TEST / "accounts.csv"
    servers = {}
    for operator in sorted({s.operator for s in scenarios}):
        settings = {"HOTLINE_IVR__OPERATOR_URI": OPERATOR_URI} if operator else {}
        settings.update(overrides)
        log = logs / ("server-operator.log" if operator else "server.log")
        servers[operator] = OwnServer(args.hotline, prompts, accounts, log, tcp=args.transport == "tcp",
                                      **settings)
    for server in servers.values():
        try:
            server.start()
        except (RuntimeError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", "") or ""
            print(f"sip-test/run: cannot start the server: {e} {detail.strip()}", file=sys.stderr)
            for started in servers.values():
                started.stop()
            return None
    return servers


def _run_one(scenario, ctx, workdir):
    try:
        return sipp.run(scenario, ctx, workdir)
    except Exception as e:  # a broken scenario must not take the others down
        workdir.mkdir(parents=True, exist_ok=True)
        return sipp.Run(1, 0, workdir, [], error=f"{type(e).__name__}: {e}")


def verdict(scenario, run, cdrs, verifies, args, t1_ms):
    """None when the scenario passed, else the reason."""
    if run.error:
        return run.error
    if run.returncode != 0:
        return f"SIPp exit status {run.returncode} (the SIP exchange did not go as scripted; see {run.workdir.name}/)"
    try:
        checks.check_heard(scenario, run.transcripts)
        if scenario.special == "no_ack":
            checks.check_no_ack(run.workdir, t1_ms)
        if cdrs is not None:
            if scenario.special in ("no_cdr", "no_billed_cdr"):
                checks.check_no_cdr(scenario.name, cdrs, billed_only=scenario.special == "no_billed_cdr")
            else:
                checks.check_cdrs(scenario, checks.cdrs_of(scenario.name, cdrs), args.rate, args.currency)
        if scenario.password:
            if verifies is not None:
                checks.check_password(run.transcripts, run.account_codes[-1], verifies)
            else:
                checks.password_heard(run.transcripts[-1] if run.transcripts else [])
    except checks.Failed as e:
        return str(e)
    return None
