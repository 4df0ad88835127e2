"""The table of proven releases and the warnings for hosts running anything else."""

from __future__ import annotations

import re

import pytest

from wizard.artefacts import borgmatic_versions as bv
from wizard.artefacts.proven_versions import (
    LAB_ROOT,
    PROVEN_BORG,
    PROVEN_BORGMATIC,
    borg_refusal,
    lab_specs,
    version_warnings,
)
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.host_basics import FactsError, check_versions

BORGMATICS = [release.version for release in PROVEN_BORGMATIC]
BORGS = [release.version for release in PROVEN_BORG]


# --- the table ---------------------------------------------------------------------------------


def test_the_table_is_sorted_unique_and_supported() -> None:
    for table, parse in ((PROVEN_BORGMATIC, bv.parse_version), (PROVEN_BORG, bv.parse_version)):
        parsed = [parse(release.version) for release in table]
        assert parsed == sorted(set(parsed))
    for release in PROVEN_BORGMATIC:
        assert release.tool == "borgmatic"
        bv.check_supported(release.version)
    for release in PROVEN_BORG:
        assert release.tool == "borg"
        assert borg_refusal(release.version) is None


def test_the_matrix_holds_the_releases_the_issue_names() -> None:
    assert {"1.8.0", "1.8.4", "1.8.5"} <= set(BORGMATICS)
    assert bv.SKIP_ACTIONS_SINCE == (1, 8, 5)  # checked against borgmatic's own NEWS
    last_of = {}
    for version in BORGMATICS:
        last_of[bv.parse_version(version)[:2]] = version
    assert set(last_of) == {(1, 7), (1, 8), (1, 9), (2, 0), (2, 1)}
    assert {"1.2.4"} < set(BORGS) and any(v.startswith("1.4.") for v in BORGS)


def test_debian_packages_and_lab_venvs() -> None:
    debian = [r for r in (*PROVEN_BORGMATIC, *PROVEN_BORG) if r.lab_dir is None]
    assert [(r.tool, r.version, r.executable) for r in debian] == [
        ("borgmatic", "1.7.7", "/usr/bin/borgmatic"),
        ("borg", "1.2.4", "/usr/bin/borg"),
    ]
    lab = [r for r in (*PROVEN_BORGMATIC, *PROVEN_BORG) if r.lab_dir is not None]
    dirs = [r.lab_dir for r in lab]
    assert len(set(dirs)) == len(dirs)
    assert all(re.fullmatch(rf"{LAB_ROOT}/[a-z0-9.-]+", d) for d in dirs)
    for release in lab:
        assert release.pins, f"{release.version}: pin what it is proven with"
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*", p) for p in release.pins)


def test_the_lab_hosts_borgmatic2_venv_is_the_newest_proven_release() -> None:
    from wizard.lab.lab import BORGMATIC2_VENV

    assert PROVEN_BORGMATIC[-1].lab_dir == str(BORGMATIC2_VENV)
    assert PROVEN_BORGMATIC[-1].version.startswith("2.")


def test_lab_specs_name_a_directory_then_exact_requirements() -> None:
    specs = lab_specs()
    assert len(specs) == len([r for r in (*PROVEN_BORGMATIC, *PROVEN_BORG) if r.lab_dir])
    assert f"{LAB_ROOT}/borgmatic-1.8.5 borgmatic==1.8.5 ruamel.yaml==0.19.1" in specs
    assert any(re.fullmatch(rf"{LAB_ROOT}/borg-1\.4 borgbackup==1\.4\.\d+ .*", s) for s in specs)
    for spec in specs:
        directory, *requirements = spec.split(" ")
        assert directory.startswith(f"{LAB_ROOT}/")
        assert all("==" in requirement for requirement in requirements)


# --- warnings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("borgmatic", BORGMATICS)
@pytest.mark.parametrize("borg", BORGS)
def test_proven_versions_warn_about_nothing(borgmatic: str, borg: str) -> None:
    assert version_warnings("host1", borgmatic_version=borgmatic, borg_version=borg) == []


def test_a_release_between_proven_ones_names_the_nearest() -> None:
    assert version_warnings("host1", borgmatic_version="1.8.7", borg_version="1.2.4") == [
        "borgmatic 1.8.7 on host1 has not been proven with Borgkeep; the nearest proven "
        "release is 1.8.5 (the first release with `skip_actions`)"
    ]


@pytest.mark.parametrize(
    ("version", "nearest"),
    [
        ("1.7.0", "1.7.7"),
        ("1.7.9", "1.7.7"),  # 2 steps from 1.7.7, 6 from 1.7.15
        ("1.7.14", "1.7.15"),
        ("1.7.11", "1.7.7"),  # a tie goes to the older release
        ("1.8.1", "1.8.0"),
        ("1.8.3", "1.8.4"),
        ("1.8.6", "1.8.5"),
        ("1.8.12", "1.8.14"),
        ("1.9.0", "1.9.14"),
        ("2.0.0", "2.0.13"),
        ("2.1.11", "2.1.10"),
        ("2.2.0", "2.1.10"),  # no 2.2 proven: the newest older release
        ("3.0.0", "2.1.10"),
        ("1.8.0.dev0", "1.8.0"),  # a pre-release is not the release
    ],
)
def test_nearest_borgmatic(version: str, nearest: str) -> None:
    (warning,) = version_warnings("h", borgmatic_version=version, borg_version=None)
    assert warning.startswith(f"borgmatic {version} on h has not been proven with Borgkeep; ")
    assert f"the nearest proven release is {nearest} (" in warning


@pytest.mark.parametrize(
    ("version", "nearest"),
    [("1.2.0", "1.2.4"), ("1.2.9", "1.2.4"), ("1.4.0", "1.4.5"), ("1.4.0rc1", "1.4.5")],
)
def test_nearest_borg(version: str, nearest: str) -> None:
    (warning,) = version_warnings("h", borgmatic_version=None, borg_version=version)
    assert warning.startswith(f"borg {version} on h has not been proven with Borgkeep; ")
    assert f"the nearest proven release is {nearest} (" in warning


def test_missing_versions_are_left_to_the_fact_check() -> None:
    assert version_warnings("h", borgmatic_version=None, borg_version=None) == []
    assert version_warnings("h", borgmatic_version="", borg_version="") == []


def test_too_old_or_unreadable_borgmatic_says_so() -> None:
    assert version_warnings("h", borgmatic_version="1.6.6", borg_version="1.2.4") == [
        "borgmatic 1.6.6 on h is too old: Borgkeep needs borgmatic 1.7 or newer"
    ]
    with pytest.raises(ValueError, match="too old"):
        bv.check_supported("1.6.6")  # the renderers refuse it too
    assert version_warnings("h", borgmatic_version="banana", borg_version="1.2.4") == [
        "borgmatic banana on h is not a version Borgkeep can read"
    ]


def test_host_supplied_text_is_escaped() -> None:
    hostile = "1.2.4\x1b]0;pwned\x07"
    (warning,) = version_warnings("h", borgmatic_version=None, borg_version=hostile)
    assert "\x1b" not in warning and "\x07" not in warning
    assert "'1.2.4\\x1b]0;pwned\\x07'" in warning


def facts(borg_version: str) -> HostFacts:
    return HostFacts(
        host="host1",
        login_user="root",
        uid=0,
        home="/root",
        borg_version=borg_version,
        borg_path="/usr/bin/borg",
        borgmatic_version="1.7.7",
        borgmatic_path="/usr/bin/borgmatic",
    )


@pytest.mark.parametrize(
    "borg", ["1.2.4", "1.2.8", "1.4.0", "1.4.5", "2.0.0b14", "2.0.0", "1.1.18", "1.3.0", "1.0.9"]
)
def test_borg_refusal_agrees_with_the_fact_check(borg: str) -> None:
    """Borg 2 stays refused by `gather.check_versions`; the warnings never contradict it."""
    try:
        check_versions(facts(borg), "debian")
    except FactsError as error:
        refusal = borg_refusal(borg)
        assert refusal is not None
        assert refusal in str(error)
        (warning,) = version_warnings("host1", borgmatic_version=None, borg_version=borg)
        assert warning == f"borg {borg} on host1 {refusal}"
        assert "proven" not in warning
    else:
        assert borg_refusal(borg) is None
        assert all(
            "not supported" not in warning
            for warning in version_warnings("host1", borgmatic_version=None, borg_version=borg)
        )
