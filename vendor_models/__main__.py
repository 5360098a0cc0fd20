"""`python -m vendor_models COMMAND ...` runs a model-side `intermask` subcommand."""

import sys

from .cli.main import main

sys.exit(main())
