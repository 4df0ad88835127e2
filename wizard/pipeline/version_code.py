"""The Python a host runs to learn its tools' versions without starting them: one program
per interpreter (and script directory) for every tool it runs, printing `TOOL_version=V`
for each it can answer. A tool it cannot answer prints nothing, and the caller asks that
tool's `--version`.

Each answer is computed the way the tool computes what `--version` prints: borg prints
`borg.__version__`; borgmatic the `Version` of the `borgmatic` distribution that
`importlib.metadata` finds first on `sys.path`. Importing `importlib.metadata` costs more
than the rest of the question, so borgmatic's is first looked up the way that module looks
(the first `sys.path` entry holding a `borgmatic` `.dist-info` or `.egg-info`, its
`METADATA` or `PKG-INFO`), and only an unambiguous answer is taken that way: more than one
candidate in that entry, an egg or zip on the path, another distribution finder, or a
`Version` header that is not one plain line all leave it to `importlib.metadata` itself.
"""

from __future__ import annotations

BORG = "from borg import __version__ as v"

BORGMATIC_LOOKUP = """\
def _borgmatic():
    import os, sys, importlib.machinery
    finders = [f for f in sys.meta_path if hasattr(f, "find_distributions")]
    if finders != [importlib.machinery.PathFinder]:
        return None
    for entry in sys.path:
        if entry.endswith(".egg") or os.path.isfile(entry):
            return None
        try:
            names = os.listdir(entry or ".")
        except OSError:
            if os.path.exists(entry or "."):
                return None
            continue
        found = []
        for name in names:
            low = name.lower()
            if low.endswith((".dist-info", ".egg-info")):
                if low.rpartition(".")[0].partition("-")[0] == "borgmatic":
                    found.append(os.path.join(entry or ".", name))
        if not found:
            continue
        if len(found) != 1:
            return None
        text = None
        for part in ("METADATA", "PKG-INFO", ""):
            path = os.path.join(found[0], part) if part else found[0]
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                break
        if text is None:
            return None
        header = text.replace("\\r\\n", "\\n").split("\\n\\n", 1)[0].split("\\n")
        versions = []
        for number, line in enumerate(header):
            name, colon, value = line.partition(":")
            if colon and name.strip().lower() == "version":
                following = header[number + 1] if number + 1 < len(header) else ""
                if following[:1] in (" ", "\\t"):
                    return None
                versions.append(value.strip())
        if len(versions) != 1:
            return None
        version = versions[0]
        if not version[:1].isdigit() or not all(c.isalnum() or c in ".+!_-" for c in version):
            return None
        return version
    return None
"""
"""`_borgmatic()`: the version `importlib.metadata` would find, or None when not plain."""

BORGMATIC = (
    BORGMATIC_LOOKUP
    + """\
v = _borgmatic()
if v is None:
    import importlib.metadata
    v = importlib.metadata.version("borgmatic")"""
)

TOOL_CODE = {"borg": BORG, "borgmatic": BORGMATIC}


def version_program(tools: list[str]) -> str:
    """One program answering each of `tools` on its own: one that fails (a missing or broken
    module) prints nothing for that tool and does not stop the others."""
    parts = []
    for tool in tools:
        body = TOOL_CODE[tool].replace("\n", "\n    ")
        parts.append(
            f"try:\n    {body}\n    print('{tool}_version=' + str(v), flush=True)\n"
            "except BaseException:\n    pass\n"
        )
    return "".join(parts)
