"""detcli.models.roi_heads."""
