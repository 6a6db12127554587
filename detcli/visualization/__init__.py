"""detcli.visualization."""
