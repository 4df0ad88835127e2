"""The inventory: its model (`model`), reading it (`parse`), its checks (`validation`: the
value checks of `wizard.checks` and "one host, one client") and the defaults (`settings`)."""
