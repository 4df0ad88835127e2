"""The inventory: its model (`model`), reading it (`parse`), the checks on every value
(`validation`) and the defaults (`settings`)."""
