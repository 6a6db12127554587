"""detcli.engine."""
