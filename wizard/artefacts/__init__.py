"""Renderers for what lands on the hosts: one pure module per artefact."""
