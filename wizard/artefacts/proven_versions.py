"""The borgmatic and Borg releases Borgkeep is proven against, and what to say about the rest.

"Proven" means the test suite runs that exact release (tests/test_version_matrix.py): every
config Borgkeep renders for it passes that release's own validator, the client config is
shown on a real repository never to prune or compact, and the server config prunes and
compacts only its client's archives. This table is the one place the versions are pinned:
the lab set-up (`scripts/build-lab.sh`, via `python3 -m wizard.artefacts.proven_versions
lab`), the tests and docs/supported-versions.md all read it, so adding a release here is
what puts it into the matrix.

Releases that are not Debian 12 packages live in throwaway virtualenvs under `LAB_ROOT`,
built from Debian's /usr/bin/python3 with `pins` on top of scripts/lab-constraints.txt.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

from wizard.artefacts import borgmatic_versions

LAB_ROOT = "/opt/borgkeep-lab"

_DISTRIBUTIONS = {"borgmatic": "borgmatic", "borg": "borgbackup"}


@dataclass(frozen=True)
class ProvenRelease:
    tool: str
    """"borgmatic" or "borg"."""
    version: str
    why: str
    """Why this release is in the matrix (shown in warnings and the docs)."""
    lab_dir: str | None = None
    """The lab virtualenv holding it; None for Debian 12's own package in /usr/bin."""
    pins: tuple[str, ...] = ()
    """Dependency pins it is proven with, on top of scripts/lab-constraints.txt."""

    @property
    def executable(self) -> str:
        return f"{self.lab_dir or '/usr'}/bin/{self.tool}"

    @property
    def source(self) -> str:
        return "PyPI" if self.lab_dir else "Debian 12"

    @property
    def requirements(self) -> tuple[str, ...]:
        """What pip installs into `lab_dir` (empty for a Debian package)."""
        if self.lab_dir is None:
            return ()
        return (f"{_DISTRIBUTIONS[self.tool]}=={self.version}", *self.pins)


def _lab(name: str) -> str:
    return f"{LAB_ROOT}/{name}"


# Releases up to 1.8.4 cap ruamel.yaml below 0.18; later ones get what pip picks today.
_OLD_YAML = ("ruamel.yaml==0.17.40",)
_NEW_YAML = ("ruamel.yaml==0.19.1",)

PROVEN_BORGMATIC: tuple[ProvenRelease, ...] = (
    ProvenRelease(
        "borgmatic",
        "1.7.7",
        "Debian 12's package: sectioned options, `prefix` instead of `match_archives`, "
        "prune before create",
    ),
    ProvenRelease(
        "borgmatic",
        "1.7.15",
        "the last 1.7: sectioned options",
        _lab("borgmatic-1.7.15"),
        _OLD_YAML,
    ),
    ProvenRelease(
        "borgmatic", "1.8.0", "the first 1.8: flat options", _lab("borgmatic-1.8.0"), _OLD_YAML
    ),
    ProvenRelease(
        "borgmatic",
        "1.8.4",
        "the last release without `skip_actions`",
        _lab("borgmatic-1.8.4"),
        _OLD_YAML,
    ),
    ProvenRelease(
        "borgmatic",
        "1.8.5",
        "the first release with `skip_actions`",
        _lab("borgmatic-1.8.5"),
        _NEW_YAML,
    ),
    ProvenRelease("borgmatic", "1.8.14", "the last 1.8", _lab("borgmatic-1.8.14"), _NEW_YAML),
    ProvenRelease("borgmatic", "1.9.14", "the last 1.9", _lab("borgmatic-1.9.14"), _NEW_YAML),
    ProvenRelease("borgmatic", "2.0.13", "the last 2.0", _lab("borgmatic-2.0.13"), _NEW_YAML),
    ProvenRelease(
        "borgmatic",
        "2.1.10",
        "the newest 2.1 when last proven; the local lab's hosts run it",
        _lab("borgmatic2"),
        _NEW_YAML,
    ),
)

PROVEN_BORG: tuple[ProvenRelease, ...] = (
    ProvenRelease("borg", "1.2.4", "Debian 12's package"),
    ProvenRelease(
        "borg",
        "1.4.5",
        "the newest 1.4 when last proven, built from its source release",
        _lab("borg-1.4"),
        ("msgpack==1.2.1",),
    ),
)

_BORG_VERSION_RE = re.compile(r"\s*(?:borg\s+)?(\d+)\.(\d+)(?:\.(\d+))?")
_PLAIN_VERSION_RE = re.compile(r"[0-9A-Za-z.+~-]{1,40}\Z")


def borg_refusal(borg_version: str) -> str | None:
    """Why Borgkeep refuses this borg, or None; the same rule as `gather.check_versions`."""
    if borg_version.startswith("2."):
        return (
            "(Borg 2) is not supported yet: it replaces --append-only with "
            "--permissions no-delete; install Borg 1.2 or 1.4"
        )
    if not re.match(r"1\.(2|4)\.", borg_version):
        return "is not supported; install Borg 1.2 or 1.4"
    return None


def _shown(version: str) -> str:
    """A version as it came from a host: plain ones as they are, anything else escaped."""
    return version if _PLAIN_VERSION_RE.match(version) else ascii(version)


def _parse_borg(version: str) -> tuple[int, int, int]:
    match = _BORG_VERSION_RE.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a borg version such as '1.2.4'")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def nearest_proven(
    parsed: tuple[int, int, int],
    proven: tuple[ProvenRelease, ...],
    parse: Callable[[str], tuple[int, int, int]],
) -> ProvenRelease:
    """The proven release closest to `parsed`: within its major.minor series the fewest patch
    steps away (a tie goes to the older); outside any proven series the newest older release
    (or, for a release older than all of them, the oldest)."""
    by_version = sorted(proven, key=lambda release: parse(release.version))
    series = [release for release in by_version if parse(release.version)[:2] == parsed[:2]]
    if series:
        return min(series, key=lambda release: abs(parse(release.version)[2] - parsed[2]))
    older = [release for release in by_version if parse(release.version) < parsed]
    return older[-1] if older else by_version[0]


def _unproven(tool: str, version: str, host: str, parse, proven) -> list[str]:
    if version.strip() in {release.version for release in proven}:
        return []
    near = nearest_proven(parse(version), proven, parse)
    return [
        f"{tool} {_shown(version)} on {host} has not been proven with Borgkeep; "
        f"the nearest proven release is {near.version} ({near.why})"
    ]


def _borgmatic_warnings(host: str, version: str) -> list[str]:
    try:
        parsed = borgmatic_versions.parse_version(version)
    except ValueError:
        return [f"borgmatic {_shown(version)} on {host} is not a version Borgkeep can read"]
    if parsed < borgmatic_versions.OLDEST_SUPPORTED:
        return [
            f"borgmatic {_shown(version)} on {host} is too old: "
            "Borgkeep needs borgmatic 1.7 or newer"
        ]
    return _unproven("borgmatic", version, host, borgmatic_versions.parse_version, PROVEN_BORGMATIC)


def version_warnings(
    host: str, *, borgmatic_version: str | None, borg_version: str | None
) -> list[str]:
    """One line per version on `host` that Borgkeep has not been proven against.

    A missing version says nothing (`gather.check_versions` reports missing tools); a
    version Borgkeep refuses says why, in the same terms as the check that refuses it.
    """
    warnings: list[str] = []
    if borgmatic_version:
        warnings += _borgmatic_warnings(host, borgmatic_version)
    if borg_version:
        refusal = borg_refusal(borg_version)
        if refusal is not None:
            warnings.append(f"borg {_shown(borg_version)} on {host} {refusal}")
        else:
            warnings += _unproven("borg", borg_version, host, _parse_borg, PROVEN_BORG)
    return warnings


def lab_specs() -> list[str]:
    """One line per lab virtualenv: its directory, then what pip installs into it."""
    return [
        " ".join((release.lab_dir, *release.requirements))
        for release in (*PROVEN_BORGMATIC, *PROVEN_BORG)
        if release.lab_dir is not None
    ]


if __name__ == "__main__":  # pragma: no cover - exercised by scripts/build-lab.sh
    if sys.argv[1:] == ["lab"]:
        print("\n".join(lab_specs()))
    else:
        sys.exit("usage: python3 -m wizard.artefacts.proven_versions lab")
