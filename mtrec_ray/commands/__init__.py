"""``mtrec`` subcommands, one module per area; importing this package registers them."""

from mtrec_ray.commands import align as _align  # noqa: F401
from mtrec_ray.commands import data as _data  # noqa: F401
from mtrec_ray.commands import demo as _demo  # noqa: F401
from mtrec_ray.commands import irl as _irl  # noqa: F401
from mtrec_ray.commands import sim as _sim  # noqa: F401
from mtrec_ray.commands import tune as _tune  # noqa: F401
