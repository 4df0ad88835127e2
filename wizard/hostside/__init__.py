"""Programs that run on the hosts; standard library only."""
