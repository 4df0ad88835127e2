"""Regenerate assets/screenshots/review.svg: the wizard's review of a new setup on the local
lab (needs root), with an operator's own paths rather than a test's temporary ones. It runs
in a mount namespace with a tmpfs on /home, so nothing of it stays on the machine:

    unshare -m --propagation private sh -c \
        'mount -t tmpfs tmpfs /home && .venv/bin/python assets/screenshots/make_review.py'
"""

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
if not os.path.ismount("/home"):
    sys.exit("run it under unshare with a tmpfs on /home (see the docstring)")
os.environ["HOME"] = "/home/operator"
os.environ["XDG_CONFIG_HOME"] = "/home/operator/.config"
os.environ["XDG_DATA_HOME"] = "/home/operator/.local/share"
os.environ["XDG_CACHE_HOME"] = "/home/operator/.cache"
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
os.environ.pop("BORGKEEP_INVENTORY", None)
Path("/home/operator/.config").mkdir(parents=True, exist_ok=True)

from textual.widgets import Tree  # noqa: E402

from screens.app import BorgkeepApp  # noqa: E402
from tests.screens.test_lab_flow import REVIEW_SVG, SIZE, ScreenRecorder, drive_to_review  # noqa: E402
from wizard.lab import start_lab  # noqa: E402


async def main() -> None:
    lab = start_lab(clients=[("client1", "root", "1.7"), ("client2", "root", "2")])
    try:
        for key, value in lab.env().items():
            os.environ[key] = value
        lab.forget_host_keys()
        app = BorgkeepApp(Path("/home/operator/.config/borgkeep/inventory.yaml"))
        async with app.run_test(size=SIZE) as pilot:
            rec = ScreenRecorder(app)
            await drive_to_review(pilot, lab, ["client1"], rec)
            tree = app.screen.query_one(Tree)
            keys = next(
                n for n in tree.root.children[0].children if "authorized_keys" in str(n.label)
            )
            tree.move_cursor(keys)
            await pilot.pause()
            out = sys.argv[1] if len(sys.argv) > 1 else str(REVIEW_SVG)
            app.save_screenshot(out)
            print("saved", out)
            await pilot.press("ctrl+q")
    finally:
        lab.stop()


asyncio.run(main())
