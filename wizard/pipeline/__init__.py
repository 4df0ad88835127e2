"""gather (facts, read-only) -> desired state (pure) -> plan (diffs) -> apply -> verify."""
