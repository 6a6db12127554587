"""detcli.data.datasets."""
