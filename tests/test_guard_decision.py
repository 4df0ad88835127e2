"""The guard's pure decision: unit tests per refusal reason and hypothesis properties.

The promise under test: whenever the decision approves, no archive that the retention
policy keeps by *server time* (each archive's timestamp clamped into the window in which
the server first saw it) is among those that prune, going by the archives' own timestamps,
would remove; and each attack a client can make through its append-only key is refused.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from wizard.hostside.guard_decision import (
    ListedArchive,
    Policy,
    RecordedArchive,
    decide,
    new_archive_budget,
    policy_keeps,
    refusal_summary,
    server_time,
)
from wizard.hostside.guard_text import capped_names, is_safe_name, safe_name

NOW = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
POLICY = Policy("host1-", {"keep_daily": 7, "keep_weekly": 4}, 6, HOUR)


def archive_id(name: str, time: datetime) -> str:
    return hashlib.sha256(f"{name}@{time.isoformat()}".encode("utf-8", "surrogatepass")).hexdigest()


def listed(name: str, time: datetime) -> ListedArchive:
    return ListedArchive(archive_id(name, time), name, time)


def nightly(days: int, *, until: datetime = NOW) -> list[ListedArchive]:
    """One honest archive per night at 03:00, the last `days` nights before `until`."""
    last = until.replace(hour=3, minute=0, second=0, microsecond=0)
    return [
        listed(f"host1-{last - n * DAY:%Y-%m-%dT%H:%M:%S}", last - n * DAY) for n in range(days)
    ][::-1]


def recorded_at_init(listing: list[ListedArchive], at: datetime) -> dict[str, RecordedArchive]:
    return {a.id: RecordedArchive(a.name, a.time, at, None) for a in listing}


def kinds(decision) -> set[str]:
    return {reason.kind for reason in decision.reasons}


# --- unit tests ----------------------------------------------------------------------------------


def test_an_honest_night_is_approved_and_keeps_what_borg_keeps() -> None:
    old = nightly(20, until=NOW - DAY)
    tonight = listed("host1-tonight", NOW.replace(hour=3, minute=0))
    decision = decide(recorded_at_init(old, NOW - DAY), NOW - DAY, [*old, tonight], NOW, POLICY)
    assert decision.approved, refusal_summary(decision.reasons)
    by_timestamps, removed = policy_keeps(
        [*old, tonight], {a.id: a.time for a in [*old, tonight]}, POLICY, NOW
    )
    assert decision.must_keep == by_timestamps
    assert decision.would_remove == removed and tonight.id in decision.must_keep
    assert decision.new_ids == (tonight.id,)


def test_every_reason_is_listed_at_once() -> None:
    old = nightly(10, until=NOW - DAY)
    recorded = recorded_at_init(old, NOW - DAY)
    deleted = old[-1]
    future = [listed(f"host1-future-{n}", datetime(2100, 1, 1, tzinfo=UTC)) for n in range(20)]
    late = [listed(f"host1-late-{n}", NOW - (n + 2) * DAY) for n in range(3)]
    hostile = listed("host1-\x1b[2J\nforged", NOW - HOUR)
    listing = [*old[:-1], *future, *late, hostile]
    touched = [(old[0].id, "deleted"), ("ab" * 32, "overwritten")]
    decision = decide(recorded, NOW - DAY, listing, NOW, POLICY, touched)
    assert not decision.approved
    assert kinds(decision) == {
        "deleted", "unsafe-name", "future", "backdated", "burst", "objects", "retention",
    }  # fmt: skip
    text = refusal_summary(decision.reasons)
    assert f"1 archive(s) deleted outside the server's prune ({deleted.name})" in text
    assert "20 new archive(s) dated in the future (host1-future-0, host1-future-1, " in text
    assert "host1-future-2 and 17 more)" in text
    assert "3 new archive(s) dated before the previous guard run" in text
    assert "24 new archive(s) since the previous guard run, more than the 6 allowed" in text
    assert "host1-\\x1b[2J\\x0aforged" in text and "\x1b" not in text and "\n" not in text
    assert (
        f"archive {old[0].name} deleted" in text and "object abababababababab overwritten" in text
    )


def test_a_recorded_id_with_another_name_or_time_is_refused() -> None:
    archive = listed("host1-a", NOW - DAY)
    recorded = {archive.id: RecordedArchive("host1-b", archive.time, NOW - DAY, None)}
    decision = decide(recorded, NOW - DAY, [archive], NOW, POLICY)
    assert kinds(decision) == {"changed"}


def test_a_clock_that_went_backwards_is_refused() -> None:
    decision = decide({}, NOW + 2 * DAY, [], NOW, POLICY)
    assert kinds(decision) == {"clock"}


def test_the_budget_counts_each_day_begun() -> None:
    assert new_archive_budget(6, NOW - HOUR, NOW) == 6
    assert new_archive_budget(6, NOW - DAY, NOW) == 6
    assert new_archive_budget(6, NOW - DAY - HOUR, NOW) == 12
    assert new_archive_budget(6, NOW + HOUR, NOW) == 6
    burst = [listed(f"host1-{n}", NOW - n * HOUR) for n in range(7)]
    assert kinds(decide({}, NOW - DAY, burst, NOW, POLICY)) == {"burst"}
    assert decide({}, NOW - DAY - HOUR, burst, NOW, POLICY).approved


def test_a_future_archive_recorded_at_init_cannot_push_out_genuine_ones() -> None:
    """An archive dated 2100 that was already there at init counts at init time + skew; prune
    (by its 2100 timestamp) would keep it as the newest and drop a genuine daily: refused."""
    old = nightly(7, until=NOW - DAY)
    planted = listed("host1-planted", datetime(2100, 1, 1, tzinfo=UTC))
    recorded = recorded_at_init([*old, planted], NOW - 8 * DAY)
    policy = Policy("host1-", {"keep_daily": 7}, 6, HOUR)
    decision = decide(recorded, NOW - DAY, [*old, planted], NOW, policy)
    assert kinds(decision) == {"retention"}
    assert decision.reasons[0].names == (old[0].name,)


def test_server_time_is_clamped_into_the_window() -> None:
    first_seen, after = NOW, NOW - DAY
    assert server_time(NOW - 10 * DAY, first_seen, after, HOUR) == after - HOUR
    assert server_time(NOW + 10 * DAY, first_seen, after, HOUR) == NOW + HOUR
    assert server_time(NOW - 10 * DAY, first_seen, None, HOUR) == NOW - 10 * DAY
    assert server_time(NOW - 2 * HOUR, first_seen, after, HOUR) == NOW - 2 * HOUR


def test_only_the_clients_prefix_is_pruned_or_protected() -> None:
    other = listed("other-1", NOW - HOUR)
    slashed = listed("host1-a/b", NOW - HOUR)
    decision = decide({}, NOW - DAY, [other, slashed], NOW, POLICY)
    assert decision.approved and decision.must_keep == frozenset()
    assert decision.would_remove == frozenset()


def test_safe_name_escapes_everything_that_is_not_printable() -> None:
    assert safe_name("a\\b") == "a\\\\b"
    assert safe_name("\x00\x1b\n\x7f\x85") == "\\x00\\x1b\\x0a\\x7f\\x85"
    assert safe_name("\u202e\udcff\u2028") == "\\u202e\\udcff\\u2028"
    assert safe_name("host1-é ✓") == "host1-é ✓"
    assert not is_safe_name("a\u202eb") and is_safe_name("host1-2026-01-01T03:00:00")
    assert capped_names(["a", "b", "c", "d", "e"]) == "a, b, c and 2 more"


# --- properties ----------------------------------------------------------------------------------

RETENTIONS = st.fixed_dictionaries(
    {},
    optional={
        "keep_within": st.sampled_from(["6H", "2d", "1w"]),
        "keep_secondly": st.integers(0, 5),
        "keep_hourly": st.integers(0, 5),
        "keep_daily": st.integers(0, 10),
        "keep_weekly": st.integers(0, 6),
        "keep_monthly": st.integers(0, 6),
        "keep_yearly": st.integers(0, 3),
    },
).filter(lambda retention: any(retention.values()))
OFFSETS = st.integers(-400 * 24 * 3600, 3 * 24 * 3600)
NAMES = st.text(
    alphabet=st.sampled_from(list("abc-.") + ["\x00", "\x1b", "\n", "\u202e"]), max_size=4
)


@st.composite
def worlds(draw):
    """A recorded baseline and a current listing, both arbitrary (attacks included)."""
    skew = timedelta(seconds=draw(st.integers(0, 7200)))
    last_run = NOW - timedelta(seconds=draw(st.integers(-3600, 5 * 24 * 3600)))
    recorded, listing = {}, []
    for index in range(draw(st.integers(0, 12))):
        name = f"host1-{draw(NAMES)}{index}"
        time = NOW + timedelta(seconds=draw(OFFSETS))
        archive = listed(name, time)
        first_seen = last_run - timedelta(seconds=draw(st.integers(0, 90 * 24 * 3600)))
        if draw(st.booleans()):
            after = None if draw(st.booleans()) else first_seen - timedelta(days=1)
            recorded[archive.id] = RecordedArchive(name, time, first_seen, after)
            if draw(st.integers(0, 9)) == 0:
                continue  # deleted by the client
        listing.append(archive)
    policy = Policy("host1-", draw(RETENTIONS), draw(st.integers(1, 8)), skew)
    return recorded, last_run, listing, policy


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_an_approval_never_lets_prune_remove_what_the_policy_keeps_by_server_time(world) -> None:
    recorded, last_run, listing, policy = world
    decision = decide(recorded, last_run, listing, NOW, policy)
    if decision.approved:
        assert not decision.must_keep & decision.would_remove


@st.composite
def honest_histories(draw):
    """A client backing up on its schedule (clock off by at most the skew), the guard
    recording after each daily run: the listing and state the guard would hold now."""
    skew = timedelta(seconds=draw(st.integers(0, 3600)))
    jitter = st.integers(-int(skew.total_seconds()), int(skew.total_seconds()))
    per_day = draw(st.integers(1, 3))
    days = draw(st.integers(1, 30))
    recorded, listing = {}, []
    run, previous = NOW - days * DAY, None
    for _ in range(days + 1):
        for slot in range(per_day):
            created = run - timedelta(hours=20 - slot)
            if previous is not None and created <= previous:
                continue
            time = created + timedelta(seconds=draw(jitter))
            archive = listed(f"host1-{time.isoformat()}", time)
            listing.append(archive)
            if run < NOW:
                recorded[archive.id] = RecordedArchive(archive.name, time, run, previous)
        previous, run = run, run + DAY
    policy = Policy("host1-", draw(RETENTIONS), per_day, skew)
    return recorded, NOW - DAY, listing, policy


@settings(max_examples=200, deadline=None)
@given(honest_histories())
def test_an_honest_history_is_approved_and_protects_exactly_what_borg_keeps(history) -> None:
    recorded, last_run, listing, policy = history
    decision = decide(recorded, last_run, listing, NOW, policy)
    assert decision.approved, refusal_summary(decision.reasons)
    kept_by_timestamps, _ = policy_keeps(listing, {a.id: a.time for a in listing}, policy, NOW)
    assert decision.must_keep == kept_by_timestamps


ATTACKS = st.sampled_from(["future", "backdated", "burst", "deleted", "unsafe-name"])


@settings(max_examples=200, deadline=None)
@given(honest_histories(), ATTACKS, st.integers(1, 40), st.data())
def test_every_attack_on_an_honest_history_is_refused(history, attack, count, data) -> None:
    recorded, last_run, listing, policy = history
    skew = policy.clock_skew
    if attack == "deleted":
        assume(recorded)
        victim = data.draw(st.sampled_from(sorted(recorded)))
        listing = [a for a in listing if a.id != victim]
    elif attack == "burst":
        budget = new_archive_budget(policy.max_new_per_day, last_run, NOW)
        new = sum(1 for a in listing if a.id not in recorded)
        listing = listing + [
            listed(f"host1-burst-{n}", NOW - timedelta(minutes=n)) for n in range(budget - new + 1)
        ]
    else:
        offsets = st.integers(1, 400 * 24 * 3600)
        for n in range(count):
            if attack == "future":
                time = NOW + skew + timedelta(seconds=data.draw(offsets))
            elif attack == "backdated":
                time = last_run - skew - timedelta(seconds=data.draw(offsets))
            else:
                time = NOW - timedelta(minutes=n)
            name = f"host1-{attack}-{n}" + ("\x1b]0;x\x07" if attack == "unsafe-name" else "")
            listing = [*listing, listed(name, time)]
    decision = decide(recorded, last_run, listing, NOW, policy)
    assert attack in kinds(decision)
