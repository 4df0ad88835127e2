"""The local lab: real sshd, borg, borgmatic and cron on loopback, for `borgkeep demo` and the
end-to-end tests. The engine never imports it."""

from wizard.lab.lab import BORGMATIC2_VENV, Lab, LabError, LabHost
from wizard.lab.start import start_lab

__all__ = ["BORGMATIC2_VENV", "Lab", "LabError", "LabHost", "start_lab"]
