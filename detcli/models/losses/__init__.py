"""detcli.models.losses."""
