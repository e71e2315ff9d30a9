"""What each scenario must show, beyond SIPp's own pass/fail on the SIP exchange.

The SIPp XML and its injection CSV (scenarios/NAME.xml, NAME.csv) say what the caller does;
this table says what must have happened: the outcome and bill of every call in the CDRs, the
announcements the caller heard, and for a reset, that the password heard is the one stored.
"""

from dataclasses import dataclass, field

# Announcement sequences (names as in prompts/vi), checked as ordered subsequences of what was heard.
PASSWORD = ["new_password"] + ["<digit>"] * 6 + ["repeat_password"] + ["<digit>"] * 6 + ["goodbye"]
MISMATCH = ["enter_code", "mismatch", "goodbye"]


@dataclass
class Scenario:
    name: str
    # One expected CDR outcome per call, in call order; empty: the scenario leaves no billed CDR.
    outcomes: list
    # Billed minutes of every call, when the flow's length makes it certain; None: only the
    # invariants (billed = ceil(duration / 60 s), amount = billed x rate) are checked.
    billed: int = None
    # The announcements of the last call, in order (others may come between them).
    heard: list = field(default_factory=list)
    # A password was read: it is read twice alike and verifies with `accounts check-password`.
    password: bool = False
    # The call comes from the trusted peer's address (for P-Asserted-Identity).
    trusted_source: bool = False
    # SIPp must not answer or ACK anything itself (no_ack).
    no_default_behaviour: bool = False
    # The keys go into keys.pcap as tones in the audio (`dtmf-pcap --inband`), not as events.
    inband: bool = False
    # Served by the node with ivr.operator_uri set ("press 0 for an agent"); the others by a
    # node without it, so that they hear the menu and the mismatch sentence as they are by default.
    operator: bool = False
    # Extra check by name (see checks.py).
    special: str = None
    # Wall-clock bound for the whole scenario, seconds.
    timeout: int = 90


SCENARIOS = [
    Scenario("reset_ok", ["reset"], billed=1, heard=["enter_code"] + PASSWORD, password=True),
    Scenario("reset_personal_id", ["reset"], billed=1, heard=["enter_code"] + PASSWORD, password=True),
    Scenario("mismatch_caller", ["mismatch"], billed=1, heard=MISMATCH),
    Scenario("unknown_code", ["mismatch"], billed=1, heard=MISMATCH),
    Scenario("unregistered", ["mismatch"], billed=1, heard=MISMATCH),
    Scenario("invalid_length_then_ok", ["reset"], billed=1,
             heard=["enter_code", "invalid_code"] + PASSWORD, password=True),
    Scenario("star_restarts_entry", ["reset"], billed=1,
             heard=["enter_code", "enter_code"] + PASSWORD, password=True),
    Scenario("no_input_timeout", ["no_input"],
             heard=["menu", "no_input", "menu", "no_input", "menu", "goodbye"], timeout=150),
    Scenario("wrong_branch", ["invalid_option"], billed=1,
             heard=["invalid_option", "invalid_option", "goodbye"]),
    Scenario("caller_hangs_up_during_prompt", ["abandoned"], billed=1, heard=["welcome"]),
    Scenario("cancel_before_answer", [], special="no_billed_cdr"),
    Scenario("options_ping", [], special="no_cdr"),
    Scenario("anonymous_caller", ["anonymous"], billed=1, heard=["anonymous", "goodbye"]),
    Scenario("anonymous_pbx_pilot", ["anonymous"], billed=1, heard=["anonymous", "goodbye"]),
    Scenario("pai_from_trusted_peer", ["reset"], billed=1, heard=["enter_code"] + PASSWORD,
             password=True, trusted_source=True),
    Scenario("pai_from_untrusted_peer", ["mismatch"], billed=1, heard=MISMATCH),
    # Three failed matches of one code (security.max_failures_per_code, default 3); the fourth
    # call is refused before any lookup.
    Scenario("too_many_attempts", ["mismatch"] * 3 + ["too_many_attempts"], billed=1,
             heard=["enter_code", "too_many_attempts", "goodbye"], timeout=150),
    Scenario("no_ack", ["abandoned"], billed=1, no_default_behaviour=True, special="no_ack"),
    Scenario("two_minute_call", ["reset"], billed=2, heard=["menu", "enter_code"] + PASSWORD,
             password=True, timeout=180),
    # Issue 4: DTMF each way a trunk sends it.
    Scenario("dtmf_sip_info", ["reset"], billed=1, heard=["enter_code"] + PASSWORD, password=True),
    Scenario("dtmf_inband", ["reset"], billed=1, heard=["enter_code"] + PASSWORD, password=True,
             inband=True),
    Scenario("dtmf_play_dtmf_pt96", ["reset"], billed=1, heard=["enter_code"] + PASSWORD,
             password=True),
    Scenario("dtmf_sipp_pcaps", ["reset"], billed=1, heard=["enter_code"] + PASSWORD, password=True),
    # Issue 11 item 7: key 0 at the menu transfers by REFER; the NOTIFYs decide. The 0 cuts the
    # welcome short, so nothing is heard in full before the transfer.
    Scenario("transfer_accepted", ["transferred"], billed=1, operator=True),
    Scenario("transfer_refused", ["transfer_failed"], billed=1, heard=["agents_busy", "goodbye"],
             operator=True),
]

BY_NAME = {s.name: s for s in SCENARIOS}
