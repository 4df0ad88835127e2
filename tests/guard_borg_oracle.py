"""borg 1.2's own prune rules as an oracle, run by the system Python that has borg.

Reads cases from stdin (`[{"now": ISO, "retention": {...}, "archives": [[id, name, ISO],
...]}]`, archives in manifest order, already filtered by the glob) and prints, per case,
the IDs borg's rules remove. The rules are borg's own functions (`prune_within`,
`prune_split`); the glue around them is copied from `do_prune` in borg 1.2.4's
archiver.py, with `now` fixed instead of read from the clock.
"""

import json
import re
import sys
from collections import namedtuple
from datetime import datetime
from unittest import mock

from borg.helpers import PRUNING_PATTERNS, interval, prune_split, prune_within

ArchiveInfo = namedtuple("ArchiveInfo", "name id ts")


def borg_removes(case):
    now = datetime.fromisoformat(case["now"])
    archives = [ArchiveInfo(n, i, datetime.fromisoformat(t)) for i, n, t in case["archives"]]
    retention = case["retention"]
    # manifest.archives.list(sort_by=['ts'], reverse=True)
    archives_checkpoints = sorted(archives, key=lambda a: a.ts)
    archives_checkpoints.reverse()
    checkpoint_re = r"\.checkpoint(\.\d+)?"
    is_checkpoint = re.compile(r"(%s)\Z" % checkpoint_re).search  # noqa: UP031 (borg's code)
    checkpoints = [arch for arch in archives_checkpoints if is_checkpoint(arch.name)]
    if archives_checkpoints and checkpoints and archives_checkpoints[0] is checkpoints[0]:
        keep_checkpoints = checkpoints[:1]
    else:
        keep_checkpoints = []
    checkpoints = set(checkpoints)
    archives = [arch for arch in archives_checkpoints if arch not in checkpoints]
    keep = []
    kept_because = {}
    if retention.get("keep_within"):
        with mock.patch("borg.helpers.misc.datetime") as clock:
            clock.now.return_value = now
            keep += prune_within(archives, interval(retention["keep_within"]), kept_because)
    for rule in PRUNING_PATTERNS.keys():  # noqa: SIM118 (borg's code)
        num = retention.get("keep_" + rule)
        if num is not None:
            keep += prune_split(archives, rule, num, kept_because)
    to_delete = (set(archives) | checkpoints) - (set(keep) | set(keep_checkpoints))
    return sorted(a.id for a in to_delete)


if __name__ == "__main__":
    print(json.dumps([borg_removes(case) for case in json.load(sys.stdin)]))
