"""The takeover of an existing Borg setup, decided (wizard/pipeline/takeover_plan.py) from
summaries built the way discovery builds them: the client's files read by
`discover_configs`, its jobs by `find_scheduled_jobs`, the server's key lines by
`find_client_key_lines`, all summed up by `summarize_client`. Plus the plan's warnings
about it, and the shell script that retires a config, run for real."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest

from tests.takeover_fixtures import ROOT, host_files, root_client_files
from tests.takeover_fixtures import SECRET as FIXTURE_SECRET
from tests.test_takeover_key_lines import KEY_A
from wizard.artefacts.authorized_keys_audit import remove_key_lines
from wizard.artefacts.crontab import RETIRED_PREFIX, retire_cron_lines
from wizard.artefacts.layout import server_paths
from wizard.inventory.parse import parse_inventory
from wizard.pipeline.desired.items import DesiredStateError
from wizard.pipeline.existing_setup import RetiredConfigs, existing_setup_warnings
from wizard.pipeline.facts import HostFacts
from wizard.pipeline.takeover_plan import (
    Takeover,
    decide_takeovers,
    literal_prefix,
    plan_takeover,
    unchosen_repository_refusal,
)
from wizard.remote.lifecycle_scripts import retire_config_script
from wizard.takeover.borgmatic_configs import discover_configs
from wizard.takeover.repositories import (
    ChosenServer,
    TakeoverSummary,
    config_paths_to_discover,
    match_repository,
    summarize_client,
)
from wizard.takeover.retired import RETIRED_SUFFIX
from wizard.takeover.scheduled_jobs import find_scheduled_jobs
from wizard.takeover.server_key_lines import find_client_key_lines

SECRET = "correct-horse-battery-staple"
NAS = ChosenServer.at("nas", "nas.lan", 2222, "borg", "/home/borg", also=["nas"])
HOME = "/home/borg"
CONFIG = "/etc/borgmatic.d/host1.yaml"
OTHER_CONFIG = "/etc/borgmatic-usb/usb.yaml"
"""Outside borgmatic's default paths: only the job that names it with `-c` runs it."""
TAKEN_OVER = "/data/backups/host1"


def config_17(repositories: list[str], name_format: str | None = "host1-{now}") -> str:
    """A borgmatic 1.7 config (sections), with a literal passphrase."""
    repos = "".join(f"        - {repo}\n" for repo in repositories)
    naming = f"    archive_name_format: '{name_format}'\n" if name_format else ""
    return (
        "location:\n"
        "    source_directories:\n"
        "        - /etc\n"
        "    repositories:\n"
        f"{repos}"
        "storage:\n"
        f'    encryption_passphrase: "{SECRET}"\n'
        f"{naming}"
        "retention:\n"
        "    keep_daily: 7\n"
    )


HOST1 = config_17([f"ssh://borg@nas.lan:2222{TAKEN_OVER}"])
USB = config_17(["/mnt/usb/host1"], "usb-{now}")
READ_WRITE = f'command="borg serve --restrict-to-path {TAKEN_OVER}",restrict {KEY_A}\n'
UNRELATED = "0 6 * * * /usr/local/bin/other-job\n"
NOTHING_RETIRED = RetiredConfigs((), ())
USB_JOB = f"30 4 * * * borgmatic -c {OTHER_CONFIG}\n"


def discovered(
    texts: dict[str, str],
    crontab: str = "0 3 * * * borgmatic\n",
    authorized_keys: str = READ_WRITE,
    system_crontabs: dict[str, str] | None = None,
    version: str = "1.7.7",
) -> tuple[TakeoverSummary | None, RetiredConfigs]:
    """What discovery finds for root@host1, as `discover_existing` assembles it: the
    configs its jobs and borgmatic's defaults name (and retired ones, read but not counted),
    summed up; None when nothing is found."""
    jobs = find_scheduled_jobs(
        borgmatic_version=version,
        user_crontabs={"root": crontab},
        system_crontabs=system_crontabs or {},
    )
    retired_paths = tuple(sorted(path for path in texts if path.endswith(RETIRED_SUFFIX)))
    wanted = config_paths_to_discover(ROOT, jobs) + retired_paths
    discovery = discover_configs(host_files(texts), ROOT, version, wanted)
    assert not discovery.errors, discovery.errors
    earlier = tuple(c for c in discovery.configs if c.path.endswith(RETIRED_SUFFIX))
    matches = tuple(
        match_repository(config, location, NAS, ROOT)
        for config in earlier
        for location in config.options.repositories
    )
    theirs = tuple(c for c in discovery.configs if c not in earlier)
    key_lines = find_client_key_lines(authorized_keys, {"host1": [KEY_A]})
    summary = summarize_client("host1", replace(discovery, configs=theirs), jobs, key_lines, NAS)
    found = summary.found or theirs or summary.jobs
    return (summary if found else None), RetiredConfigs(earlier, matches)


def takeover_of(
    summary, retired=NOTHING_RETIRED, repository=TAKEN_OVER, files=None
) -> Takeover | None:
    return plan_takeover(
        "host1", repository, summary, retired.configs, retired.matches, HOME, "root", files
    )


def first_takeover() -> Takeover:
    summary, retired = discovered(
        {CONFIG: HOST1, OTHER_CONFIG: USB},
        crontab=f"{UNRELATED}0 3 * * * borgmatic\n{USB_JOB}",
    )
    assert {c.path for c in summary.configs.configs} == {CONFIG, OTHER_CONFIG}
    takeover = takeover_of(summary, retired)
    assert takeover is not None
    return takeover


# --- plan_takeover ------------------------------------------------------------------------


def test_the_takeover_retires_the_config_its_crontab_line_and_its_read_write_key_line():
    takeover = first_takeover()
    assert takeover.client == "host1" and takeover.repository == TAKEN_OVER
    assert takeover.source is not None and takeover.source.path == CONFIG
    # only the config that backs up to the repository, and only the job that runs it: the
    # USB config and the job that names it with -c are left alone
    assert takeover.retire_configs == (CONFIG,)
    (job,) = takeover.retire_jobs
    assert (job.source, job.line) == ("crontab of root", 2)
    assert takeover.leftover_jobs == ()
    (line,) = takeover.remove_key_lines
    assert (line.number, line.access) == (1, "read-write")
    assert takeover.passphrase == SECRET
    assert takeover.passphrase_source == f"host1's {CONFIG}"


def test_the_plans_lines_say_what_changes_and_never_the_passphrase():
    lines = first_takeover().describe()
    assert lines[0] == f"take over the repository {TAKEN_OVER} with every archive in it"
    assert any(
        line.startswith("remove line 1 of the server's authorized_keys (read-write ssh-ed25519")
        for line in lines
    )
    assert f"retire {CONFIG} (renamed to host1.yaml{RETIRED_SUFFIX})" in lines
    assert any(line.startswith("comment out crontab of root, line 2") for line in lines)
    assert f"passphrase: taken over from host1's {CONFIG}" in lines
    assert not any(SECRET in line for line in lines)


def test_to_json_never_holds_the_passphrase():
    data = first_takeover().to_json()
    text = json.dumps(data)
    assert SECRET not in text
    assert data["passphrase"] == f"taken over from host1's {CONFIG}"
    assert data["retire_configs"] == [CONFIG]
    assert data["archive_prefix"] == "host1-"
    assert data["remove_key_lines"][0]["access"] == "read-write"
    assert data["jobs_left_running"] == []


@pytest.mark.parametrize(
    ("name_format", "prefix"),
    [
        ("host1-{now}", "host1-"),
        ("host1-{now:%Y-%m-%dT%H:%M:%S}", "host1-"),
        ("{hostname}-{now}", None),
        ("{now:%Y-%m-%d}", None),
        (None, None),
        ("-{now}", None),  # a prefix the inventory would refuse: none to carry
        ("web 1-{now}", None),
    ],
)
def test_the_archive_prefix_is_the_literal_start_of_the_old_names(name_format, prefix):
    config = config_17([f"ssh://borg@nas.lan:2222{TAKEN_OVER}"], name_format)
    summary, retired = discovered({CONFIG: config})
    assert takeover_of(summary, retired).archive_prefix == prefix


def test_literal_prefix_cuts_at_the_first_placeholder():
    assert literal_prefix("host1-{now}") == "host1-"
    assert literal_prefix("{hostname}-{now}") is None
    assert literal_prefix("plain") == "plain"
    assert literal_prefix(None) is None and literal_prefix("") is None


def test_a_config_that_also_backs_up_elsewhere_is_edited_and_keeps_running_for_the_others():
    # the fixture's 1.7 config backs up to the nas and to a USB disk
    texts = root_client_files()
    summary, retired = discovered(texts, authorized_keys=READ_WRITE)
    takeover = takeover_of(summary, retired, files=host_files(texts))
    assert takeover.retire_configs == ()  # not renamed: it keeps backing up to the USB disk
    (edit,) = takeover.edit_configs
    assert edit.path == "/etc/borgmatic.d/host1.yaml" and edit.others == ("/mnt/usb/host1",)
    assert edit.lines == (6,)
    assert (
        edit.after.splitlines()[5] == "# borgkeep took over:         - borg@nas:/data/backups/host1"
    )
    assert edit.after.replace("# borgkeep took over: ", "", 1) == edit.before
    assert takeover.retire_jobs == ()  # the bare job runs the edited config: it stays
    assert takeover.source.path == edit.path  # Borgkeep's config carries its options over
    assert takeover.passphrase == FIXTURE_SECRET
    (line,) = [line for line in takeover.describe() if line.startswith("edit ")]
    assert "line 6" in line and "/mnt/usb/host1" in line and FIXTURE_SECRET not in line
    assert json.loads(json.dumps(takeover.to_json()))["edit_configs"] == [
        {"path": edit.path, "lines": [6], "keeps": ["/mnt/usb/host1"]}
    ]
    assert not takeover.done


def test_a_config_that_also_backs_up_elsewhere_is_refused_when_it_was_not_read():
    summary, retired = discovered(root_client_files(), authorized_keys=READ_WRITE)
    with pytest.raises(DesiredStateError) as info:
        takeover_of(summary, retired)
    message = str(info.value)
    assert "/etc/borgmatic.d/host1.yaml" in message
    assert TAKEN_OVER in message and "/mnt/usb/host1" in message
    assert "plan again" in message


def test_a_repository_listed_in_flow_style_is_refused_with_the_reason():
    texts = {
        CONFIG: HOST1.replace(
            f"        - ssh://borg@nas.lan:2222{TAKEN_OVER}\n",
            f"        [ssh://borg@nas.lan:2222{TAKEN_OVER}, /mnt/usb/host1]\n",
        )
        .replace("    repositories:\n        [", "    repositories: [")
        .replace("]\n", "]\n")
    }
    texts[CONFIG] = texts[CONFIG].replace("repositories:\n        [", "repositories: [")
    summary, retired = discovered(texts)
    assert len(summary.repositories) == 2
    with pytest.raises(DesiredStateError) as info:
        takeover_of(summary, retired, files=host_files(texts))
    assert "cannot be taken out line by line" in str(info.value)
    assert "not on a line of its own" in str(info.value)


def test_another_repository_on_the_same_server_is_refused():
    texts = {
        CONFIG: config_17(
            [f"ssh://borg@nas.lan:2222{TAKEN_OVER}", "ssh://borg@nas.lan:2222/data/other"]
        )
    }
    summary, retired = discovered(texts)
    with pytest.raises(DesiredStateError) as info:
        takeover_of(summary, retired, files=host_files(texts))
    assert "another of them is on this server too" in str(info.value)


def test_after_the_edit_the_copy_is_the_source_and_the_takeover_is_done():
    texts = root_client_files()
    summary, retired = discovered(texts, authorized_keys=READ_WRITE)
    (edit,) = takeover_of(summary, retired, files=host_files(texts)).edit_configs
    after = {**texts, edit.path: edit.after, edit.path + RETIRED_SUFFIX: edit.before}
    summary, retired = discovered(after, authorized_keys="")
    again = takeover_of(summary, retired, files=host_files(after))
    assert again is not None and again.done
    assert again.source.path == edit.path + RETIRED_SUFFIX
    assert again.edit_configs == () and again.passphrase == FIXTURE_SECRET


def test_a_job_in_cron_d_not_read_is_left_running_and_named_not_retired():
    summary, retired = discovered(
        {CONFIG: HOST1},
        crontab=UNRELATED,
        system_crontabs={"/etc/cron.d/borgmatic": "0 3 * * * root borgmatic\n"},
    )
    takeover = takeover_of(summary, retired)
    assert takeover.retire_jobs == () and takeover.cron_file_edits == ()
    (job,) = takeover.leftover_jobs
    assert job.source == "/etc/cron.d/borgmatic"
    assert takeover.to_json()["jobs_left_running"] == [job.describe()]


CRON_D = "# nightly\nMAILTO=root\n0 3 * * * root borgmatic\n30 5 * * * root /usr/local/bin/other\n"


def test_a_root_logins_jobs_in_cron_d_and_etc_crontab_are_commented_out_in_place():
    system = {"/etc/cron.d/borgmatic": CRON_D, "/etc/crontab": "45 1 * * 0 root borgmatic\n"}
    summary, retired = discovered({CONFIG: HOST1}, crontab=UNRELATED, system_crontabs=system)
    takeover = takeover_of(summary, retired, files=host_files({CONFIG: HOST1, **system}))
    assert takeover.leftover_jobs == ()
    assert {job.source for job in takeover.retire_jobs} == set(system)
    edits = {edit.path: edit for edit in takeover.cron_file_edits}
    assert set(edits) == set(system)
    cron_d = edits["/etc/cron.d/borgmatic"]
    assert cron_d.lines == (3,) and cron_d.before == CRON_D
    assert cron_d.after == CRON_D.replace("0 3 * * *", f"{RETIRED_PREFIX}0 3 * * *")
    assert edits["/etc/crontab"].after == f"{RETIRED_PREFIX}45 1 * * 0 root borgmatic\n"
    assert sum(line.startswith("comment out /etc/") for line in takeover.describe()) == 2


def test_a_non_root_logins_system_jobs_stay_named_not_edited():
    system = {"/etc/cron.d/borgmatic": "0 3 * * * root borgmatic\n"}  # login: not root
    summary, retired = discovered({CONFIG: HOST1}, crontab=UNRELATED, system_crontabs=system)
    takeover = plan_takeover(
        "host1",
        TAKEN_OVER,
        summary,
        retired.configs,
        retired.matches,
        HOME,
        "backup",
        host_files({CONFIG: HOST1, **system}),
    )
    assert takeover.cron_file_edits == () and len(takeover.leftover_jobs) == 1


def test_the_crontab_line_that_runs_borg_on_the_repository_itself_is_retired():
    crontab = f"15 2 * * * borg prune --keep-daily 7 ssh://borg@nas.lan:2222{TAKEN_OVER}\n"
    summary, retired = discovered({CONFIG: HOST1}, crontab=crontab)
    (job,) = takeover_of(summary, retired).retire_jobs
    assert job.line == 1


def test_no_setup_of_the_clients_own_there_is_no_takeover():
    summary, retired = discovered({OTHER_CONFIG: USB}, crontab=USB_JOB, authorized_keys="")
    assert summary is not None and summary.configs.config(OTHER_CONFIG) is not None
    assert takeover_of(summary, retired) is None
    assert takeover_of(None) is None


def test_an_append_only_line_of_the_client_is_removed_too_but_not_one_elsewhere():
    keys = (
        f'command="borg serve --append-only --restrict-to-path {TAKEN_OVER}" {KEY_A}\n'
        f'command="borg serve --restrict-to-path /data/backups/other" {KEY_A}\n'
    )
    summary, retired = discovered({CONFIG: HOST1}, authorized_keys=keys)
    (line,) = takeover_of(summary, retired).remove_key_lines
    assert (line.number, line.access) == (1, "append-only")


# --- a rerun after the takeover ---------------------------------------------------------------


def test_on_a_rerun_the_retired_config_is_the_source_and_nothing_is_left_to_retire():
    first = first_takeover()
    crontab = f"{UNRELATED}0 3 * * * borgmatic\n{USB_JOB}"
    # what apply left: the config renamed, the cron line and the key line commented out
    after_crontab = retire_cron_lines(crontab, [job.line for job in first.retire_jobs])
    assert f"{RETIRED_PREFIX}0 3 * * * borgmatic" in after_crontab
    after_keys = remove_key_lines(READ_WRITE, [line.number for line in first.remove_key_lines])
    summary, retired = discovered(
        {CONFIG + RETIRED_SUFFIX: HOST1, OTHER_CONFIG: USB},
        crontab=after_crontab,
        authorized_keys=after_keys,
    )
    assert [c.path for c in retired.configs] == [CONFIG + RETIRED_SUFFIX]
    again = takeover_of(summary, retired)
    assert again is not None
    assert again.source.path == CONFIG + RETIRED_SUFFIX
    assert again.retire_configs == () and again.retire_jobs == () and again.leftover_jobs == ()
    assert again.remove_key_lines == ()
    assert again.passphrase == SECRET
    assert again.passphrase_source == first.passphrase_source  # named without the suffix
    assert again.archive_prefix == first.archive_prefix == "host1-"


# --- decide_takeovers: the inventory's choice ---------------------------------------------------


def clients(*extra: str, repo_root: str = "/backups"):
    """host1 (with `extra` lines) and host2, parsed from an inventory."""
    text = (
        "version: 1\nserver:\n  name: nas\n  ssh: root@nas.lan\n"
        f"  repo_root: {repo_root}\n"
        "retention:\n  keep_daily: 7\nclients:\n"
        "  - name: host1\n    ssh: root@host1.lan\n    source_directories: [/etc]\n"
        + "".join(f"    {line}\n" for line in extra)
        + "  - name: host2\n    ssh: root@host2.lan\n    source_directories: [/etc]\n"
    )
    return parse_inventory(text).clients


def decide(specs, summary, retired=NOTHING_RETIRED, present=()):
    placed = tuple((c.name, c.repository) for c in specs if c.repository)
    paths = server_paths(HOME, "/backups", placed)
    return decide_takeovers(
        specs,
        paths,
        "nas",
        {"host1": summary} if summary else {},
        {"host1": retired},
        set(present),
        {"host1": "root", "host2": "root"},
    )


def test_a_placed_client_takes_its_repository_over():
    summary, retired = discovered({CONFIG: HOST1})
    takeovers = decide(clients(f"repository: {TAKEN_OVER}"), summary, retired)
    assert list(takeovers) == ["host1"]
    assert takeovers["host1"].retire_configs == (CONFIG,)


def test_an_unplaced_client_with_a_found_repository_is_refused_with_both_choices():
    summary, retired = discovered({CONFIG: HOST1})
    with pytest.raises(DesiredStateError) as info:
        decide(clients(), summary, retired)
    message = str(info.value)
    assert f"already backs up to nas:{TAKEN_OVER}" in message
    assert f"`repository: {TAKEN_OVER}` takes it over" in message
    assert "`repository: /backups/host1` starts a new repository beside it" in message
    assert "Nothing was planned" in message


def test_when_the_found_repository_is_the_default_path_only_the_takeover_is_offered():
    config = config_17(["ssh://borg@nas.lan:2222/backups/host1"])
    keys = f'command="borg serve --restrict-to-path /backups/host1",restrict {KEY_A}\n'
    summary, retired = discovered({CONFIG: config}, authorized_keys=keys)
    with pytest.raises(DesiredStateError) as info:
        decide(clients(), summary, retired)
    message = str(info.value)
    assert "`repository: /backups/host1` takes it over" in message
    assert "starts a new repository" not in message


def test_an_unplaced_client_whose_borgkeep_repository_exists_is_not_refused():
    summary, retired = discovered({CONFIG: HOST1})
    assert decide(clients(), summary, retired, present=["/backups/host1/config"]) == {}


def test_an_unplaced_client_without_a_repository_on_the_server_is_not_refused():
    summary, retired = discovered({OTHER_CONFIG: USB}, crontab=USB_JOB, authorized_keys="")
    assert summary is not None and not summary.on_server
    assert decide(clients(), summary, retired) == {}
    assert unchosen_repository_refusal("host1", summary, "/backups/host1", "nas") is None


def test_a_placed_client_with_nothing_found_there_gets_a_new_repository():
    summary, retired = discovered({OTHER_CONFIG: USB}, crontab=USB_JOB, authorized_keys="")
    assert decide(clients("repository: /data/new/host1"), summary, retired) == {}


# --- the plan's warnings -------------------------------------------------------------------


def facts_of_host1() -> dict[str, HostFacts]:
    return {"host1": HostFacts(host="host1", login_user="root", uid=0, home="/root")}


def test_the_warnings_name_a_leftover_job_and_a_missing_prefix_not_a_retired_job():
    config = config_17([f"ssh://borg@nas.lan:2222{TAKEN_OVER}"], "{hostname}-{now}")
    summary, retired = discovered(
        {CONFIG: config},
        crontab="0 3 * * * borgmatic\n",
        system_crontabs={"/etc/cron.d/borgmatic": "0 4 * * * root borgmatic\n"},
    )
    takeover = takeover_of(summary, retired)
    assert len(takeover.retire_jobs) == 1 and len(takeover.leftover_jobs) == 1
    warnings = existing_setup_warnings({"host1": summary}, facts_of_host1(), {"host1": takeover})
    leftover = [w for w in warnings if "/etc/cron.d/borgmatic" in w and "by hand" in w]
    assert len(leftover) == 1 and "not in root's crontab" in leftover[0]
    (prefix,) = [w for w in warnings if "archive_prefix:" in w]
    assert "{hostname}-{now}" in prefix and prefix.startswith("host1: ")
    # the login's crontab line is commented out by the takeover: no warning about it
    assert not [w for w in warnings if "crontab of root" in w]
    assert not any(SECRET in w for w in warnings)


def test_without_the_takeover_the_same_bare_job_is_not_warned_about():
    """Borgkeep's config is not in a directory a bare `borgmatic` loads."""
    summary, _ = discovered({CONFIG: HOST1})
    warnings = existing_setup_warnings({"host1": summary}, facts_of_host1())
    assert not [w for w in warnings if "runs `borgmatic`" in w]


def test_a_literal_prefix_gives_no_prefix_warning():
    summary, retired = discovered({CONFIG: HOST1})
    takeover = takeover_of(summary, retired)
    warnings = existing_setup_warnings({"host1": summary}, facts_of_host1(), {"host1": takeover})
    assert not [w for w in warnings if "archive_prefix" in w]
    assert warnings == []


# --- retire_config_script, run for real -------------------------------------------------------


def run_retire(path, to) -> subprocess.CompletedProcess:
    script = retire_config_script(str(path), str(to))
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30)


def test_the_script_renames_the_config_and_a_second_run_says_it_is_done(tmp_path):
    config = tmp_path / "host1.yaml"
    retired = tmp_path / f"host1.yaml{RETIRED_SUFFIX}"
    config.write_text(HOST1)
    first = run_retire(config, retired)
    assert first.returncode == 0, first.stderr
    assert not config.exists() and retired.read_text() == HOST1
    assert f"retired {config}" in first.stdout
    second = run_retire(config, retired)
    assert second.returncode == 0, second.stderr
    assert "already retired" in second.stdout
    assert not config.exists() and retired.read_text() == HOST1


def test_the_script_refuses_when_both_exist_and_moves_nothing(tmp_path):
    config = tmp_path / "host1.yaml"
    retired = tmp_path / f"host1.yaml{RETIRED_SUFFIX}"
    config.write_text("new\n")
    retired.write_text("old\n")
    result = run_retire(config, retired)
    assert result.returncode == 1
    assert "both" in result.stderr
    assert config.read_text() == "new\n" and retired.read_text() == "old\n"


def test_the_script_refuses_when_neither_exists(tmp_path):
    config = tmp_path / "host1.yaml"
    result = run_retire(config, tmp_path / f"host1.yaml{RETIRED_SUFFIX}")
    assert result.returncode == 1
    assert "gone" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_script_refuses_a_directory_and_a_dangling_link_in_the_way(tmp_path):
    directory = tmp_path / "conf.yaml"
    directory.mkdir()
    result = run_retire(directory, tmp_path / f"conf.yaml{RETIRED_SUFFIX}")
    assert result.returncode == 1 and directory.is_dir()
    config = tmp_path / "host1.yaml"
    config.write_text("x\n")
    link = tmp_path / f"host1.yaml{RETIRED_SUFFIX}"
    link.symlink_to(tmp_path / "nowhere")
    result = run_retire(config, link)
    assert result.returncode == 1 and config.read_text() == "x\n" and link.is_symlink()


def test_the_script_takes_paths_with_spaces_and_quotes_as_one_word(tmp_path):
    config = tmp_path / "it's a config.yaml"
    retired = tmp_path / f"it's a config.yaml{RETIRED_SUFFIX}"
    config.write_text("x\n")
    result = run_retire(config, retired)
    assert result.returncode == 0, result.stderr
    assert retired.read_text() == "x\n" and not config.exists()


# --- what the review of the first version found ----------------------------------------


def test_a_bare_job_that_also_runs_another_config_is_refused_not_commented_out():
    """Commenting out `borgmatic` would stop usb.yaml's backups too: refused, naming it."""
    summary, retired = discovered(
        {CONFIG: HOST1, "/etc/borgmatic.d/usb.yaml": USB}, crontab="0 3 * * * borgmatic\n"
    )
    with pytest.raises(DesiredStateError) as refused:
        takeover_of(summary, retired)
    message = str(refused.value)
    assert "also runs /etc/borgmatic.d/usb.yaml" in message
    assert "commenting it out would stop those backups too" in message


def test_after_the_takeover_the_plan_says_it_was_done_and_changes_nothing():
    takeover = first_takeover()
    done = replace(takeover, retire_configs=(), retire_jobs=(), remove_key_lines=())
    assert done.done and not takeover.done
    (line,) = done.describe()
    assert line.startswith(f"taken over earlier: {TAKEN_OVER}")
    assert done.to_json()["done"] is True


def test_no_prefix_warning_when_the_inventory_names_the_prefix():
    summary, retired = discovered(
        {CONFIG: config_17([f"ssh://borg@nas.lan:2222{TAKEN_OVER}"], "{hostname}-{now}")}
    )
    takeover = takeover_of(summary, retired)
    assert takeover.archive_prefix is None
    facts = {"host1": HostFacts(host="host1", login_user="root", uid=0, home="/root")}
    warned = existing_setup_warnings({"host1": summary}, facts, {"host1": takeover})
    assert any("set `archive_prefix:` for host1" in w for w in warned)
    named = existing_setup_warnings({"host1": summary}, facts, {"host1": takeover}, ["host1"])
    assert not any("archive_prefix" in w for w in named)


@pytest.mark.parametrize("path", ["/data/host1/", "//data/host1", "/data//host1"])
def test_a_repository_path_not_written_plainly_is_refused_with_the_plain_form(path):
    text = (
        "version: 1\nserver: {name: nas, ssh: root@nas.lan}\nretention: {keep_daily: 7}\n"
        f"clients:\n  - name: host1\n    ssh: root@host1\n    source_directories: [/etc]\n"
        f"    repository: '{path}'\n"
    )
    with pytest.raises(Exception) as refused:
        parse_inventory(text)
    assert "clients[0].repository" in str(refused.value)
    assert "write /data/host1" in str(refused.value)


def test_the_edit_commands_hashes_stay_out_of_what_is_shown_and_saved():
    from wizard.pipeline.desired.client_setup import _edit
    from wizard.pipeline.plan import Change

    texts = root_client_files()
    summary, retired = discovered(texts, authorized_keys=READ_WRITE)
    (edit,) = takeover_of(summary, retired, files=host_files(texts)).edit_configs
    public, hashes = _edit(edit, edit.path + RETIRED_SUFFIX, "/etc/borgmatic.d")
    assert set(hashes) == {"before", "after"} and not set(hashes) & set(public)
    change = Change("host1", 3, "command", "edit-config", None, "", args=public, secret_args=hashes)
    shown = json.dumps(change.public_dict())
    assert hashes["before"] not in shown and hashes["after"] not in shown
    assert "secret_args" not in shown and "lines" in shown


def test_two_configs_retired_on_one_host_are_two_changes_when_plans_are_compared():
    from wizard.pipeline.plan import Change
    from wizard.pipeline.plan_file import compare_plans

    def retire(path: str, to: str) -> Change:
        return Change(
            "host1", 3, "command", "retire-config", None, "", args={"path": path, "to": to}
        )

    reviewed = [
        retire("/etc/borgmatic.d/a.yaml", "a.old"),
        retire("/etc/borgmatic.d/b.yaml", "b.old"),
    ]
    fresh = [
        retire("/etc/borgmatic.d/a.yaml", "a.other"),
        retire("/etc/borgmatic.d/b.yaml", "b.old"),
    ]
    assert reviewed[0].key != reviewed[1].key
    (problem,) = compare_plans([c.public_dict() for c in reviewed], fresh)
    assert problem.startswith("host1: retire-config /etc/borgmatic.d/a.yaml: changed")
