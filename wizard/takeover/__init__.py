"""Discovery of an existing Borg setup (issue 21), as pure functions over text.

Gather reads the files (borgmatic configs and their includes, crontabs, systemd units,
the server's authorized_keys); these modules say what they mean, the way borgmatic,
cron, systemd and sshd would read them. Nothing here opens a connection, runs a program
or imports Textual or paramiko, so every rule is a unit test away. Gather and the plan use
it through `wizard.pipeline.existing_reads` and `wizard.pipeline.existing_setup`, per client:

1. `scheduled_jobs.find_scheduled_jobs(...)` on the crontabs, `/etc/crontab`, the files
   of `CRON_DIRECTORIES` and the units of `UNIT_DIRECTORIES` gather read;
2. `borgmatic_configs.discover_configs(HostFiles(...), login, version,
   repositories.config_paths_to_discover(login, jobs))`, repeated with what gather reads
   of its `to_read` and lists of its `to_list` until `complete` (includes need a round
   per level);
3. on the server, `server_key_lines.find_client_key_lines(authorized_keys, client_keys)`;
4. `repositories.summarize_client(...)`: the value the plan, `plan --json` (`to_json()`,
   never a secret) and the wizard show.
"""
