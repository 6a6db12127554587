"""detcli.tools."""
