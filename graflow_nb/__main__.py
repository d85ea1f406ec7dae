"""``python -m graflow_nb``: the graflow-nb command."""

import sys

from ._cli.main import main

sys.exit(main())
