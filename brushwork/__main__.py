"""``python -m brushwork`` runs the command-line interface."""

import sys

from brushwork.frontends.cli import main

sys.exit(main())
