"""Load a borgmatic config file the way a given borgmatic release does, from gather's texts.

borgmatic reads YAML with ruamel and three tags of its own: `!include FILE` (a relative
name is looked for in the working directory first, then beside the including file),
`<<: !include FILE` (deep-merged into the mapping, the including file winning), and since
1.7.12 `!retain` / `!omit` to steer that merge. Every mapping is deep-merged, includes or
not, so duplicate keys merge rather than replace. The merge itself changed in 1.8.1
(pairwise before, grouped after), so both are here, ported node for node onto PyYAML.

Nothing is read from disk: a file gather has not read yet becomes `to_read`, and a bad
file, a missing include or an include loop becomes `error`, never an exception.
"""

from __future__ import annotations

import io
import itertools
import posixpath
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wizard.takeover.host_files import HostFiles, PathState, absolute, expand_home
from wizard.takeover.versions import GROUPED_MERGE_SINCE, RETAIN_OMIT_SINCE, Version

MERGE_TAG = "tag:yaml.org,2002:merge"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"


@dataclass(frozen=True)
class LoadedYaml:
    """One config file, loaded with its includes.

    `data` is None when the file could not be loaded: either `error` says why (naming the
    file at fault) or `to_read` lists the include candidates gather must read first.
    `includes`: every file that was included, transitively, in the order it was loaded.
    """

    path: str
    data: object = field(repr=False)
    includes: tuple[str, ...] = ()
    to_read: tuple[str, ...] = ()
    error: str | None = None


class _Problem(Exception):
    """Stops this file's load; becomes `LoadedYaml.error`."""


@dataclass
class _Load:
    files: HostFiles
    version: Version
    home: str
    user: str | None
    cwd: str
    includes: list[str] = field(default_factory=list)
    to_read: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)

    def load(self, path: str) -> object:
        if path in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(path) :], path])
            raise _Problem(f"include loop: {chain}")
        state = self.files.state(path)
        if state is PathState.UNKNOWN:
            self.to_read.append(path)
            return {}
        if state is not PathState.FILE:
            raise _Problem(f"{path}: {_STATE_WORDS[state]}")
        stream = io.StringIO(self.files.texts[path])
        stream.name = path
        self.stack.append(path)
        try:
            return yaml.load(stream, Loader=self._loader_class(posixpath.dirname(path)))  # noqa: S506 (a SafeLoader subclass)
        finally:
            self.stack.pop()

    def include(self, node: Node, include_directory: str) -> object:
        if isinstance(node, ScalarNode):
            return self._probe(str(node.value), include_directory)
        grouped = self.version >= GROUPED_MERGE_SINCE
        names = node.value if grouped and isinstance(node, SequenceNode) else []
        if names and all(isinstance(item, ScalarNode) for item in names):
            # Reversed as borgmatic does, so that a merge lets the last file win.
            return [self._probe(str(n.value), include_directory) for n in reversed(names)]
        raise _Problem(
            f"{self.stack[-1]}: the value given for the !include tag is invalid; use a single "
            "filename" + (" or a list of filenames" if grouped else "")
        )

    def _probe(self, name: str, include_directory: str) -> object:
        expanded = expand_home(name, self.home, self.user)
        if expanded.startswith("/"):
            return self._included(posixpath.normpath(expanded))
        candidates = [absolute(expanded, self.cwd), absolute(expanded, include_directory)]
        unknown = [c for c in candidates if self.files.state(c) is PathState.UNKNOWN]
        for candidate in candidates:
            state = self.files.state(candidate)
            if state is PathState.UNKNOWN:
                self.to_read.extend(c for c in unknown if c not in self.to_read)
                return {}
            if state is not PathState.ABSENT:
                return self._included(candidate)
        raise _Problem(
            f"{self.stack[-1]}: could not find include {name} at {' or '.join(candidates)}"
        )

    def _included(self, path: str) -> object:
        known = self.files.state(path) is not PathState.UNKNOWN
        if known and path not in self.includes and path != self.stack[0]:
            self.includes.append(path)
        return self.load(path)

    def _loader_class(self, include_directory: str) -> type[yaml.SafeLoader]:
        load = self
        merge = _merge_grouped if self.version >= GROUPED_MERGE_SINCE else _merge_pairwise
        tags = self.version >= RETAIN_OMIT_SINCE

        class BorgmaticLoader(yaml.SafeLoader):
            def flatten_mapping(self, node: MappingNode) -> None:
                for index, (key_node, value_node) in enumerate(node.value):
                    if key_node.tag == MERGE_TAG and value_node.tag == "!include":
                        included = self.construct_object(value_node, deep=True)
                        node.value[index] = (key_node, _represent(included))
                _flatten_like_ruamel(self, node)
                node.value = merge(node.value, tags)

        BorgmaticLoader.add_constructor(
            "!include", lambda _loader, node: load.include(node, include_directory)
        )
        if tags:
            BorgmaticLoader.add_constructor("!retain", _misplaced_retain)
            BorgmaticLoader.add_constructor("!omit", _misplaced_omit)
        return BorgmaticLoader


_STATE_WORDS = {
    PathState.ABSENT: "no such file",
    PathState.UNREADABLE: "cannot be read by this login",
    PathState.DIRECTORY: "is a directory",
}


def _misplaced_retain(_loader: yaml.SafeLoader, node: Node) -> None:
    if isinstance(node, MappingNode | SequenceNode):
        raise _Problem(
            "the !retain tag may only be used within a configuration file containing a "
            "merged !include tag"
        )
    raise _Problem("the !retain tag may only be used on a mapping or list")


def _misplaced_omit(_loader: yaml.SafeLoader, _node: Node) -> None:
    raise _Problem(
        "the !omit tag may only be used on a scalar or list element within a configuration "
        "file containing a merged !include tag"
    )


def _flatten_like_ruamel(loader: yaml.SafeLoader, node: MappingNode) -> None:
    """ruamel's YAML merge, which borgmatic relies on: merged pairs go first (a list of
    mappings last-first), every pair is kept for the deep merge, and a second `<<` in one
    mapping is an error. PyYAML 6 drops merged duplicates instead, so it cannot be used."""
    merge: list[tuple[Node, Node]] = []
    index = 0
    while index < len(node.value):
        key_node, value_node = node.value[index]
        if key_node.tag != MERGE_TAG:
            if key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"
            index += 1
            continue
        if merge:
            raise _Problem(f'found duplicate merge key "<<"\n{key_node.start_mark}')
        del node.value[index]
        parts = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        if not all(isinstance(part, MappingNode) for part in parts):
            raise _Problem(f"expected a mapping for merging\n{value_node.start_mark}")
        for part in reversed(parts):
            loader.flatten_mapping(part)
            merge.extend(part.value)
    if merge:
        node.value = merge + node.value


def _represent(data: object) -> Node:
    """The included value back as nodes, as borgmatic does, so the merge can see them."""
    return yaml.representer.SafeRepresenter(sort_keys=False).represent_data(data)


def _without_omitted(values: list[Node]) -> list[Node]:
    omitted = tuple(node.value for node in values if node.tag == "!omit")
    return [node for node in values if node.value not in omitted]


_DELETED = object()


def _merge_pairwise(nodes: list[tuple[Node, Node]], tags: bool) -> list[tuple[Node, Node]]:
    """borgmatic 1.7.x's (and 1.8.0's) deep_merge_nodes: each duplicate key merges into the
    next one; a third duplicate is left over (and then fails as a duplicate key)."""
    replaced: dict[tuple[Node, Node], object] = {}
    for a_key, a_value in nodes:
        for b_key, b_value in nodes:
            if (a_key, a_value) in replaced or (b_key, b_value) in replaced:
                continue
            same_key = a_key.tag == b_key.tag and a_key.value == b_key.value
            if not same_key or a_value is b_value:
                continue
            replaced[(a_key, a_value)] = _DELETED
            if isinstance(b_value, MappingNode):
                if tags and b_value.tag == "!retain":
                    b_value.tag = MAP_TAG
                else:
                    merged = _merge_pairwise(a_value.value + b_value.value, tags)
                    replaced[(b_key, b_value)] = (b_key, MappingNode(b_value.tag, merged))
            elif isinstance(b_value, SequenceNode):
                if tags and b_value.tag == "!retain":
                    b_value.tag = SEQ_TAG
                else:
                    items = a_value.value + b_value.value
                    items = _without_omitted(items) if tags else items
                    replaced[(b_key, b_value)] = (b_key, SequenceNode(b_value.tag, items))
    kept = [replaced.get(node, node) for node in nodes if replaced.get(node) is not _DELETED]
    names = [key.value for key, _ in kept if isinstance(key, ScalarNode)]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _Problem(f"the key {duplicates[0]!r} is given three times or more in one mapping")
    return kept  # type: ignore[return-value]


def _merge_grouped(nodes: list[tuple[Node, Node]], tags: bool) -> list[tuple[Node, Node]]:
    """borgmatic 1.8.1+'s deep_merge_nodes: every value of a key merges, the last winning."""
    merged_nodes = []
    for name, group in itertools.groupby(
        sorted(nodes, key=lambda node: str(node[0].value)), key=lambda node: str(node[0].value)
    ):
        grouped = list(group)
        last_key, last_value = grouped[-1]
        kinds = {type(value) for _, value in grouped}
        if len(kinds) > 1:
            raise _Problem(
                f'incompatible types found when trying to merge "{name}:" values across '
                "configuration files"
            )
        several = len(grouped) > 1
        if isinstance(last_value, MappingNode):
            if last_value.tag == "!retain" and several:
                last_value.tag = MAP_TAG
                merged_nodes.append((last_key, last_value))
            else:
                values = [item for _, value in grouped for item in value.value]
                merged_nodes.append(
                    (last_key, MappingNode(last_value.tag, _merge_grouped(values, tags)))
                )
        elif isinstance(last_value, SequenceNode):
            if last_value.tag == "!retain" and several:
                last_value.tag = SEQ_TAG
                merged_nodes.append((last_key, last_value))
            else:
                values = [item for _, value in grouped for item in value.value]
                values = _without_omitted(values) if several else values
                merged_nodes.append((last_key, SequenceNode(last_value.tag, values)))
        else:
            merged_nodes.append((last_key, last_value))
    return merged_nodes


def load_borgmatic_yaml(
    path: str, files: HostFiles, *, version: Version, home: str, user: str | None, cwd: str
) -> LoadedYaml:
    """Load `path` and its includes as borgmatic `version` would for the login with `home`,
    run from `cwd` (cron starts jobs in the user's home; systemd in `/`)."""
    load = _Load(files=files, version=version, home=home, user=user, cwd=cwd)
    try:
        data = load.load(path)
    except _Problem as problem:
        return LoadedYaml(path, None, tuple(load.includes), (), str(problem))
    except yaml.YAMLError as error:
        return LoadedYaml(path, None, tuple(load.includes), (), f"invalid YAML: {error}")
    if load.to_read:
        return LoadedYaml(path, None, tuple(load.includes), tuple(load.to_read))
    return LoadedYaml(path, data, tuple(load.includes))
