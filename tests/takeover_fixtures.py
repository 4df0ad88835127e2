"""Real borgmatic configs of an existing fleet, shared by the takeover discovery tests:
a root client on borgmatic 1.7 (sections, `<<: !include` of a shared retention file) and a
non-root laptop on borgmatic 2 (flat, labelled repositories)."""

from __future__ import annotations

from wizard.takeover.borgmatic_configs import Login, default_config_paths
from wizard.takeover.host_files import HostFiles

SECRET = "hunter2-very-secret"
ROOT = Login("root", "/root")
BACKUP = Login("backup", "/home/backup")

COMMON_RETENTION_17 = """\
retention:
    keep_daily: 7
    keep_weekly: 4
    keep_monthly: 6
consistency:
    checks:
        - repository
"""

HOST1_17 = """\
location:
    source_directories:
        - /etc
        - /home
    repositories:
        - borg@nas:/data/backups/host1
        - /mnt/usb/host1
    one_file_system: true
    exclude_caches: true
    exclude_patterns:
        - '*.tmp'
storage:
    encryption_passphrase: "{secret}"
    ssh_command: ssh -i /root/.ssh/id_backup -p 2222
    compression: zstd,3
    archive_name_format: 'host1-{{now:%Y-%m-%dT%H:%M:%S}}'
retention:
    keep_daily: 14
    prefix: 'host1-'
<<: !include {root}/etc/borgmatic/common-retention.yaml
hooks:
    before_backup:
        - echo start
    postgresql_databases:
        - name: all
          password: db-secret
"""

DATABASES_17 = """\
location:
    source_directories:
        - /var/lib/mysql-dumps
    repositories:
        - ssh://borg@nas:2222/data/backups/host1-db
<<: !include {root}/etc/borgmatic/common-retention.yaml
"""

COMMON_2 = """\
keep_daily: 3
keep_weekly: 4
source_directories:
    - /home/backup/Pictures
exclude_patterns:
    - '*.iso'
"""

LAPTOP_2 = """\
source_directories:
    - /home/backup/Documents
repositories:
    - path: ssh://borg@nas.lan:2222/./laptop
      label: nas
    - path: offsite.example.net:laptop
      label: offsite
encryption_passcommand: cat /home/backup/.borg-pass
archive_name_format: '{now:%Y-%m-%d}'
keep_daily: 7
exclude_patterns:
    - !omit '*.iso'
    - '*.tmp'
<<: !include ~/.config/borgmatic/common.yaml
healthchecks:
    ping_url: https://hc-ping.com/x
"""


def root_client_files(root: str = "") -> dict[str, str]:
    return {
        f"{root}/etc/borgmatic/common-retention.yaml": COMMON_RETENTION_17,
        f"{root}/etc/borgmatic.d/host1.yaml": HOST1_17.format(secret=SECRET, root=root),
        f"{root}/etc/borgmatic.d/databases.yaml": DATABASES_17.format(root=root),
    }


def laptop_files(home: str = "/home/backup") -> dict[str, str]:
    return {
        f"{home}/.config/borgmatic/common.yaml": COMMON_2,
        f"{home}/.config/borgmatic.d/laptop.yaml": LAPTOP_2,
    }


def host_files(texts: dict[str, str], **kwargs) -> HostFiles:
    """`texts` plus a listing of each directory holding them; other paths absent."""
    listings: dict[str, list[str]] = {}
    for path in texts:
        directory, _, name = path.rpartition("/")
        listings.setdefault(directory, []).append(name)
    absent = frozenset(
        {
            *default_config_paths(ROOT),
            *default_config_paths(BACKUP),
            "/root/.config/borgmatic/common.yaml",
        }
        - set(texts)
        - set(listings)
        - set(kwargs.get("unreadable", ()))
    )
    return HostFiles(
        texts=texts,
        listings={key: tuple(value) for key, value in listings.items()},
        absent=absent | kwargs.get("absent", frozenset()),
        unreadable=frozenset(kwargs.get("unreadable", ())),
    )
