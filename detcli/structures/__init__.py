"""detcli.structures."""
