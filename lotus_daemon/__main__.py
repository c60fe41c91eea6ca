"""`python -m lotus_daemon`: the daemon process (`lotus daemon start` runs this)."""

import sys

from lotus_daemon.host import main

sys.exit(main())
