"""detcli.models.dense_heads."""
