"""detcli.models.necks."""
