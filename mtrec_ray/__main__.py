"""``python -m mtrec_ray`` is the ``mtrec`` command."""

import sys

from mtrec_ray.cli import main

sys.exit(main())
