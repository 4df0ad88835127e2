"""Borgkeep engine: inventory, facts, renderers, plan, apply, verify. Never imports Textual."""

__version__ = "0.1.0"
