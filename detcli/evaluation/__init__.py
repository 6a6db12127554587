"""detcli.evaluation."""
