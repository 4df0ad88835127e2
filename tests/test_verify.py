"""Pure parts of the post-apply proofs."""

from wizard.pipeline.verify import archives_in_prune_output


def test_prune_listing_yields_archive_names_not_rule_words():
    output = (
        "Keeping archive (rule: daily #1):        client1-2026-01-04T03:00:00 Sun, 2026-01-04\n"
        "Keeping archive (rule: monthly[oldest] #1): client1-2025-12-01T03:00:00 Mon\n"
        "Would prune:                             client1-2026-01-01T03:00:00 Thu\n"
        "Pruning archive (1/2):                   client1-2026-01-02T03:00:00 Fri\n"
        "some other line: with colons\n"
    )
    assert archives_in_prune_output(output) == [
        "client1-2026-01-04T03:00:00",
        "client1-2025-12-01T03:00:00",
        "client1-2026-01-01T03:00:00",
        "client1-2026-01-02T03:00:00",
    ]
