"""A client's later life: retire it (`remove`), give it a new key (`rotate`), recover it
after a guard refusal (`recover`), restore a file onto it (`restore`).

Each module turns facts into ordinary desired items, so the same planner shows them as
diffs and the same executor applies them (`commands` adds the executor's few new
commands); `actions` plans a request on a gather's snapshot (`gathering` reads it), and
`FleetSession` offers them to the CLI and the wizard.
"""
