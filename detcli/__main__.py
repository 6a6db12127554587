"""``python -m detcli`` runs the ``det`` executable."""

import sys

from detcli.cli import main

sys.exit(main())
