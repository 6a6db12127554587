"""detcli.models.detectors."""
