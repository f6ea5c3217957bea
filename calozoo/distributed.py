"""Running calozoo's work on Dask distributed: a local cluster or a running scheduler.

Commands that fan work out (``calozoo simulate`` today) take ``--scheduler``: ``local`` starts a
``dask.distributed.LocalCluster`` of worker processes (one thread each) on this machine, and an
address ``tcp://HOST:PORT`` submits to a scheduler that is already running (e.g. one that
dask-jobqueue started for HTCondor or SLURM). Dask is imported only here and only when a
client is made, so commands that do not use it (``calozoo list-models``) never import it.

>>> with dask_client("local", workers=2) as client:     # doctest: +SKIP
...     futures = [client.submit(work, job, pure=False) for job in jobs]
...     for future in as_completed(futures):
...         handle(future.result())
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

from .errors import CalozooError

__all__ = [
    "SchedulerError",
    "DEFAULT_TIMEOUT_S",
    "check_scheduler",
    "dask_client",
    "as_completed",
    "check_workers_can_write",
]

#: How long to wait for a scheduler to answer before giving up (seconds).
DEFAULT_TIMEOUT_S = 30.0

_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d{1,5})?$|^[^\s/:]+:\d{1,5}$")


class SchedulerError(CalozooError, ValueError):
    """A ``--scheduler`` that is not an address, cannot be reached, or whose workers cannot work."""


def check_scheduler(scheduler: str) -> str:
    """``scheduler`` if it is ``"local"`` or looks like a scheduler's address, else a SchedulerError."""
    if scheduler == "local" or _ADDRESS.match(scheduler or ""):
        return scheduler
    raise SchedulerError(
        f"--scheduler must be 'local' (a Dask cluster on this machine) or a scheduler's address "
        f"such as tcp://HOST:PORT, got {scheduler!r}"
    )


def _import_distributed():
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - a dependency of the plugins that use it
        raise SchedulerError(
            f"--scheduler needs dask.distributed ({err}): pip install 'dask[distributed]'"
        ) from None
    return distributed


@contextlib.contextmanager
def dask_client(
    scheduler: str,
    *,
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed (with its local cluster) on leaving.

    Args:
        scheduler: ``"local"`` for a ``LocalCluster`` of ``workers`` processes (default: all
            cores), one thread each, no dashboard; or a scheduler's address (``tcp://HOST:PORT``).
        workers: processes of a local cluster; a remote scheduler has the workers it has.
        timeout_s: how long to wait for the scheduler (and, locally, for the cluster to start).

    Raises:
        SchedulerError: a malformed address, or a scheduler that does not answer in ``timeout_s``.
    """
    check_scheduler(scheduler)
    distributed = _import_distributed()
    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        cluster = distributed.LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: any free one (no dashboard needs bokeh)
            scheduler_port=0,
            silence_logs=40,  # logging.ERROR: no worker chatter on the console
        )
        try:
            client = distributed.Client(cluster, timeout=timeout_s)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError) as err:
        raise SchedulerError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s ({err}); "
            "is it running, and is the address (tcp://HOST:PORT) right?"
        ) from None
    try:
        yield client
    finally:
        client.close()


def as_completed(futures):
    """``distributed.as_completed``: the futures in the order they finish."""
    return _import_distributed().as_completed(futures)


def _try_writing(folder: str) -> str | None:
    """On a worker: ``None`` if a file can be made in ``folder``, else why not."""
    probe = os.path.join(folder, f".calozoo-probe-{uuid.uuid4().hex}")
    try:
        with open(probe, "wb") as stream:
            stream.write(b"")
        os.remove(probe)
    except OSError as err:
        return str(err)
    return None


def check_workers_can_write(client, folder: str | os.PathLike) -> None:
    """Raise a :class:`SchedulerError` unless every worker of ``client`` can write in ``folder``.

    With a remote scheduler the workers write the output themselves, so ``folder`` must be on a
    file system they share with this machine (the same absolute path everywhere). Only the
    workers connected now are asked; those that join later are not checked.
    """
    folder = os.path.abspath(os.fspath(folder))
    answers = client.run(_try_writing, folder)  # no workers yet (a batch queue): nothing to check
    failed = {worker: why for worker, why in answers.items() if why is not None}
    if failed:
        worker, why = next(iter(sorted(failed.items())))
        raise SchedulerError(
            f"{len(failed)} of {len(answers)} Dask workers cannot write in {folder} (e.g. {worker}: {why}); "
            "the output must be on a file system the workers share, under the same path"
        )
