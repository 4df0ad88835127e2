from datetime import date

from wizard.inventory.retention_preview import describe_preview, kept_daily_archives

TODAY = date(2025, 3, 14)


def test_daily_only_keeps_the_newest_days():
    preview = kept_daily_archives({"keep_daily": 7}, 400, TODAY)
    assert len(preview.kept) == 7
    assert preview.kept[0] == TODAY
    assert preview.oldest == date(2025, 3, 8)


def test_rules_do_not_count_an_archive_twice():
    # 7 daily (Mar 8..14), then weekly: ISO week of Mar 8 is already kept by daily, so the
    # weekly rule starts from the previous weeks' Sundays.
    preview = kept_daily_archives({"keep_daily": 7, "keep_weekly": 4}, 400, TODAY)
    assert preview.by_rule == {"daily": 7, "weekly": 4}
    weekly = sorted(preview.kept)[:4]
    assert all(d.weekday() == 6 for d in weekly)  # the newest archive of each week is Sunday


def test_default_policy_on_400_daily_archives():
    retention = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keep_yearly": 1}
    preview = kept_daily_archives(retention, 400, TODAY)
    assert preview.by_rule["daily"] == 7
    assert preview.by_rule["monthly"] == 6
    assert preview.by_rule["yearly"] == 1
    assert len(preview.kept) == 18
    assert "18 survive" in describe_preview(preview, TODAY)


def test_too_few_archives_keeps_the_oldest():
    preview = kept_daily_archives({"keep_monthly": 12}, 40, TODAY)
    # Mar, Feb and (oldest rule) the oldest archive of Feb 3
    assert preview.kept == (TODAY, date(2025, 2, 28), date(2025, 2, 3))


def test_yearly_beyond_the_window_is_limited_by_the_archives():
    preview = kept_daily_archives({"keep_yearly": 5}, 400, TODAY)
    assert [d.year for d in preview.kept] == [2025, 2024, 2024]
