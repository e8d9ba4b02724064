"""File-name rules: daily YYYYMMDD.csv (a real date) and monthly YYYYMM00.csv.

Called by the importer before reading a file, and (through the intake sink) by edges
that refuse a bad name at the door.
"""

from __future__ import annotations

import datetime as dt
import re

_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})\.csv$", re.IGNORECASE)


def check_filename(name: str) -> bool:
    """True when `name` is a daily file with a real date or a monthly file."""
    match = _NAME.match(name)
    if not match:
        return False
    year, month, day = (int(part) for part in match.groups())
    if day == 0:
        return 1 <= month <= 12 and year >= 1
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def error_report_name(name: str) -> str:
    """`20240516.csv` → `20240516.errors.csv`."""
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return f"{stem}.errors.csv"
