"""detcli.data.pipelines."""
