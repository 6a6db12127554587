"""detcli.models.backbones."""
