"""A compromised client's tool: borg's own Python API over the client's append-only connection.

Run by the system Python that has borg (`/usr/bin/python3 tests/guard_forge.py ...`), never
imported by the test suite. The connection goes through BORG_RSH, i.e. the same forced
`borg serve --append-only --restrict-to-repository` a client key gets, so everything done
here is something a compromised client can do. It exists because the CLI refuses some names
(NUL cannot be in argv) and because one connection for many archives is fast.

    guard_forge.py create URL   < [[name, "YYYY-MM-DDTHH:MM:SS"], ...]   (empty archives)
    guard_forge.py chunks URL NAME                                      (data chunk IDs)
"""

import argparse
import json
import os
import sys
from datetime import datetime

from borg.archive import Archive
from borg.cache import Cache
from borg.helpers import Location, Manifest
from borg.logger import setup_logging
from borg.remote import RemoteRepository


def connect(url, exclusive):
    args = argparse.Namespace(
        rsh=os.environ["BORG_RSH"],
        remote_path="borg",
        umask=0o077,
        upload_ratelimit=0,
        upload_buffer=0,
        lock_wait=10,
        debug_topics=[],
        storage_quota=None,
    )
    return RemoteRepository(Location(url), exclusive=exclusive, lock_wait=10, args=args)


def create(url):
    wanted = json.load(sys.stdin)
    with connect(url, exclusive=True) as repository:
        manifest, key = Manifest.load(repository, (Manifest.Operation.WRITE,))
        with Cache(repository, key, manifest, lock_wait=10) as cache:
            commit_repository, commit_cache = repository.commit, cache.commit
            # One transaction for all of them (Archive.save commits after each archive).
            repository.commit, cache.commit = (lambda **kwargs: None), (lambda: None)
            for name, timestamp in wanted:
                archive = Archive(repository, key, manifest, name, cache=cache, create=True)
                archive.save(timestamp=datetime.fromisoformat(timestamp))
            commit_repository(compact=False)
            commit_cache()


def chunks(url, name):
    with connect(url, exclusive=False) as repository:
        manifest, key = Manifest.load(repository, (Manifest.Operation.READ,))
        archive = Archive(repository, key, manifest, name)
        found = []
        for item in archive.iter_items():
            for chunk in item.get("chunks", []):
                found.append(chunk.id.hex())
        print(json.dumps(found))


if __name__ == "__main__":
    setup_logging(level="warning")
    if sys.argv[1] == "create":
        create(sys.argv[2])
    else:
        chunks(sys.argv[2], sys.argv[3])
