"""detcli.apis."""
