"""The remote side: SSH transport, host keys, ssh config, the scripts run on hosts, the lock."""
