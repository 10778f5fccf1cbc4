# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The list of allowed skips (tests/skips-allowed.txt) and how a skip is matched against it.

Shared by tests/conftest.py, which gates every pytest run under tests/, and by the units gate
(tests/ecosystem/test_units.py), which reads ansible-test's skip summary.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

# The checkout (or ansible-test's copy of it): node ids in the list are relative to it, whatever pytest's rootdir.
CHECKOUT = Path(__file__).resolve().parent.parent
ALLOWED_SKIPS = Path(__file__).resolve().with_name('skips-allowed.txt')
FORMAT = '<node id, a glob> | <skip reason, a glob> | <why this skip is acceptable>'


def load_allowed_skips(path=ALLOWED_SKIPS):
    """[(node id glob, reason glob, why)] from the list; an entry without all three parts is an error."""
    entries = []
    for number, line in enumerate(Path(path).read_text(encoding='utf-8').splitlines(), 1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = [part.strip() for part in line.split(' | ')]
        if len(parts) != 3 or not all(parts):
            raise ValueError('%s:%d: an entry is "%s", not %r' % (path, number, FORMAT, line))
        entries.append(tuple(parts))
    return entries


def skip_is_allowed(entries, node_id, reason):
    """Whether an entry's node id and reason globs both match the skip."""
    return any(fnmatch.fnmatchcase(node_id, node) and fnmatch.fnmatchcase(reason, why)
               for node, why, _because in entries)


def skip_location_is_allowed(entries, path, reason):
    """Whether an entry matches a skip known by its file only (pytest's ``-r s`` summary gives file:line)."""
    return any(fnmatch.fnmatchcase(path, node.partition('::')[0]) and fnmatch.fnmatchcase(reason, why)
               for node, why, _because in entries)


# pytest's short summary line of a skip (-r s, or -r a): "SKIPPED [2] tests/unit/test_x.py:12: the reason".
SUMMARY_SKIP = re.compile(r'^SKIPPED \[(?P<count>\d+)\] (?P<path>[^\s:]+)(?::(?P<line>\d+))?: (?P<reason>.*)$', re.M)
# The counts line: "==== 3 failed, 140 passed, 2 skipped in 12.65s ====" (without the "=" under -q).
SUMMARY_COUNT = re.compile(r'^=*\s*(?:\d+ \w+, )*(?P<skipped>\d+) skipped(?:, \d+ \w+)* in [\d.]+s\b', re.M)


def unlisted_summary_skips(entries, output):
    """(skips in a pytest output's short summary the list does not allow, skips counted, skips listed).

    Each pytest run in ``output`` (ansible-test units runs one per test context) ends with a counts line;
    a skip counted there but missing from the summary lines cannot be checked, so the caller compares the two.
    """
    unlisted, listed = [], 0
    for match in SUMMARY_SKIP.finditer(output):
        listed += int(match['count'])
        if not skip_location_is_allowed(entries, match['path'], match['reason']):
            unlisted.append(match.group(0)[len('SKIPPED '):])
    counted = sum(int(match['skipped']) for match in SUMMARY_COUNT.finditer(output))
    return unlisted, counted, listed


def skip_reason(report):
    """The reason a skip report gives, without pytest's 'Skipped: ' prefix."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason[len('Skipped: '):] if reason.startswith('Skipped: ') else reason
