"""detcli.config."""
