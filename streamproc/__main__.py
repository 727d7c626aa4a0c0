"""``python -m streamproc`` is the ``streamproc`` command."""

import sys

from streamproc.run.cli import main

sys.exit(main())
