"""`python -m loadtest`: the same command as `imgflow loadtest`."""

import sys

from loadtest.command import main

sys.exit(main())
