"""The bottom of the engine: pure checks on single values. `fields` (every inventory value's
check and `FieldError`), `destination` (the ssh destination grammar), `cron` (the cron
grammar and the staggered default schedule). Nothing here imports another Borgkeep layer."""
