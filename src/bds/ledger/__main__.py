"""``python -m bds.ledger``: see bds.ledger.cli."""

import sys

from bds.ledger.cli import main

sys.exit(main())
