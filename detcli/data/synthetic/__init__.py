"""detcli.data.synthetic."""
