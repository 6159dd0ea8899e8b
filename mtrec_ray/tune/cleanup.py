"""Release the placement groups of Ray Train runs whose controller was killed.

When ASHA stops a trial, Tune ends the trial's actor; the Ray Train controller it owns
dies with it and never removes its workers' placement group. Ray Train V2 starts a
detached ``PlacementGroupCleaner`` for this, but it asks the State API (the dashboard)
whether the controller lives: with ``include_dashboard=False`` (our local Ray, the
tests) or when it cannot resolve the cluster address, it never removes anything, the
reserved CPUs leak and later trials wait for resources forever.

``release_orphaned_placement_groups`` does that cleaner's job from the Tune driver: a
placement group of this job that is not detached, was created by an actor, and whose
creator actor is dead can no longer be used by anyone, so it is removed. ``SweepCallback`` runs it
every few seconds while Tune runs. It reads the GCS placement-group table through
``ray._private.state`` (the public ``placement_group_table`` omits the creator fields);
if that private API moves, the sweep logs once and turns itself off.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)


def orphaned_placement_groups() -> list[bytes]:
    """IDs of this job's live placement groups whose creating actor is dead (not detached)."""
    import ray
    from ray._private.state import state
    from ray.core.generated import gcs_pb2

    job = ray.get_runtime_context().get_job_id()
    accessor = state._connect_and_get_accessor()
    out = []
    for raw in accessor.get_placement_group_table():
        pg = gcs_pb2.PlacementGroupTableData.FromString(raw)
        if pg.state == gcs_pb2.PlacementGroupTableData.REMOVED or pg.is_detached:
            continue
        if pg.creator_job_id.hex() != job:
            continue  # another job's group: not ours to judge
        if not pg.creator_actor_id or ray.ActorID(pg.creator_actor_id).is_nil():
            continue  # created by a driver (Tune's own trial groups): the job owns it
        if pg.creator_actor_dead:
            out.append(pg.placement_group_id)
    return out


def release_orphaned_placement_groups() -> int:
    """Remove the placement groups of dead creator actors; returns how many."""
    import ray
    from ray.util.placement_group import PlacementGroup, remove_placement_group

    ids = orphaned_placement_groups()
    for pg_id in ids:
        remove_placement_group(PlacementGroup(ray.PlacementGroupID(pg_id)))
    return len(ids)


def sweep_callback(every_s: float = 2.0) -> Any:
    """A Tune callback that releases orphaned placement groups every ``every_s`` seconds."""
    from ray.tune import Callback

    class SweepCallback(Callback):
        def __init__(self) -> None:
            self.last = 0.0
            self.enabled = True
            self.released = 0

        def _sweep(self) -> None:
            if not self.enabled or time.monotonic() - self.last < every_s:
                return
            self.last = time.monotonic()
            try:
                self.released += release_orphaned_placement_groups()
            except Exception as exc:  # a private Ray API moved: do no harm, say it once
                self.enabled = False
                logger.warning("placement-group sweep disabled: %s", exc)

        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            self._sweep()

        def __getstate__(self) -> dict[str, Any]:
            return {"last": 0.0, "enabled": True, "released": self.released}

    return SweepCallback()
