"""detcli.models."""
