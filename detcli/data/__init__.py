"""detcli.data."""
