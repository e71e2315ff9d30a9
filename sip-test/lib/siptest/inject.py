"""Reading a scenario's SIPp injection file: caller;keys;account_code;asserted_identity."""

from dataclasses import dataclass


@dataclass
class Row:
    caller: str
    keys: str
    account_code: str
    asserted: str


def read_rows(path):
    """The rows of a SIPp -inf file (first line SEQUENTIAL/RANDOM/USER; `#` lines are comments)."""
    lines = path.read_text().splitlines()
    rows = []
    for line in lines[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        fields = (line.split(";") + [""] * 4)[:4]
        rows.append(Row(*(f.strip() for f in fields)))
    if not rows:
        raise ValueError(f"{path}: no rows after the first line")
    return rows
