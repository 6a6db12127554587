"""detcli.engine.hooks."""
