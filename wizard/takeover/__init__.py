"""Discovery of an existing Borg setup (issue 21), as pure functions over text.

Gather reads the files (borgmatic configs and their includes, crontabs, systemd units,
the server's authorized_keys); these modules say what they mean, the way borgmatic,
cron, systemd and sshd would read them. Nothing here opens a connection, runs a program
or imports Textual or paramiko, so every rule is a unit test away. Not wired into gather
or the plan yet.
"""
