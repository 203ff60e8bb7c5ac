"""The training worker: a Huey consumer with process workers, a reaper and explicit shutdown.

``run_worker(settings)`` (``nnserve worker``) recovers the model store, fails stale jobs and
sweeps orphaned datasets, then runs the Huey consumer with ``worker_concurrency`` forked worker
processes, each training one job at a time (``service.jobs.task``), plus a reaper thread. It
blocks until stopped.

What happens to a running job when its worker goes away
--------------------------------------------------------
- **Killed** (SIGKILL, OOM, host lost): Huey delivers at most once, so the message is gone. The
  job is **FAILED with error type ``worker_lost``, not re-queued**, once its heartbeat is older
  than ``heartbeat_timeout`` — by the reaper of any live worker, or lazily by the next
  ``JobService.get``/``list``. Nothing is published. Worker processes get
  ``PR_SET_PDEATHSIG=SIGKILL``, so when the consumer itself is killed its workers die with it
  instead of training (and publishing) on as orphans.
- **Its server killed**: the embedded worker of ``nnserve serve`` (``--parent-pid``) gets
  SIGTERM when the gunicorn master dies, even by SIGKILL, and stops as below.
- **SIGTERM** (``docker stop``, systemd, ``nnserve serve`` stopping its embedded worker): Huey's
  immediate shutdown. The consumer stops taking jobs and sends SIGTERM to its worker processes;
  the task interrupts ``fit`` at once and ends the job **FAILED with type ``worker_shutdown``**
  (not re-queued; submit it again). A publish already under way is completed first. The consumer
  then waits up to ``graceful_timeout`` s for its processes and fails any of its own jobs still
  ``running`` the same way, so none is left running.
- **SIGINT** (Ctrl-C): Huey's graceful shutdown (its worker processes ignore SIGINT): running
  jobs get up to ``graceful_timeout`` s to finish, then it proceeds as for SIGTERM.
- **SIGHUP**: Huey's restart — as SIGINT, then the consumer re-executes itself; a job its
  process could not end itself is failed ``worker_lost`` by the heartbeat rule.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

from service import metrics
from service.config import Settings
from service.jobs.datasets import remove_dataset, sweep_datasets
from service.jobs.events import job_ended
from service.jobs.liveness import Reaper, finish_publishes, reap_stale
from service.jobs.queue import make_huey, searcher
from service.jobs.records import FAILED, RUNNING, JobStore, error
from service.jobs.stores import DEFAULT_NAMESPACE, make_job_store
from service.logs import configure_logging
from service.store import ModelStore

if TYPE_CHECKING:
    from huey.consumer import Consumer

log = logging.getLogger("nnserve.jobs")
_PR_SET_PDEATHSIG = 1
_fork_hook_installed = False


def _die_with_parent() -> None:
    """Make processes this one forks get SIGKILL when it dies (Linux ``prctl``)."""
    global _fork_hook_installed
    if _fork_hook_installed:
        return
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        log.warning("prctl unavailable: worker processes may outlive a killed consumer")
        return
    consumer = os.getpid()
    forker: dict[str, int] = {}

    def before() -> None:
        forker["pid"] = os.getpid()

    def in_child() -> None:
        if forker.get("pid") != consumer:
            return
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != consumer:  # died before prctl took effect
            os._exit(1)

    os.register_at_fork(before=before, after_in_child=in_child)
    _fork_hook_installed = True


def exit_with_parent(parent: int) -> None:
    """Get SIGTERM (a clean stop: running jobs end ``worker_shutdown``) when process ``parent``
    dies, so a killed ``nnserve serve`` leaves no worker training on under PID 1.

    ``prctl(PR_SET_PDEATHSIG)`` on Linux; a watchdog thread on the parent pid elsewhere and
    as a backstop (the parent may die before either is in place: checked right after).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        log.warning("the server (pid %d) is gone: stopping the training worker", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _join_processes(consumer: Consumer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    procs = [proc for _, proc in consumer.worker_threads] + [consumer.scheduler]
    for proc in procs:
        with contextlib.suppress(AssertionError, ValueError):  # never started
            proc.join(max(0.0, deadline - time.monotonic()))


def end_own_jobs(job_store: JobStore, settings: Settings, consumer_pid: int) -> list[str]:
    """Fail (``worker_shutdown``) the jobs still running on this consumer's processes."""
    prefix = f"{socket.gethostname()}:{consumer_pid}:"
    ended = []
    for job in job_store.stale_running(float("-inf")):
        if not str(job.get("worker") or "").startswith(prefix):
            continue
        message = "the worker stopped before the job finished; submit it again"
        remove_dataset(settings.store, job["job_id"])
        if job_store.transition(job["job_id"], (RUNNING,), FAILED,
                                error=error("worker_shutdown", message)):
            job_ended(job_store, job["job_id"])
            ended.append(job["job_id"])
            log.warning("job %s failed: %s", job["job_id"], message)
    return ended


def lower_priority() -> None:
    """Make this process (and the training processes it forks) yield its core to any other.

    ``nice 19`` everywhere; on Linux also ``SCHED_IDLE``, under which a waking API process
    preempts training at once instead of waiting out its time slice (that wait set the p99 of
    predictions during training). Training still progresses: idle tasks keep a small share.
    """
    os.nice(19)
    if hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def run_worker(settings: Settings, concurrency: int | None = None, *,
               namespace: str = DEFAULT_NAMESPACE) -> None:
    """Run the training worker until SIGTERM/SIGINT (main thread only); see the module doc."""
    workers = concurrency or settings.worker_concurrency
    # Training is batch work: let the API processes on the same cores answer predictions first.
    lower_priority()
    job_store = make_job_store(settings, namespace=namespace)
    with contextlib.suppress(Exception):  # before recover() removes what it would put in place
        finish_publishes(job_store, settings)
    removed = ModelStore(settings.store).recover()
    if removed:
        log.info("store recovery removed %s", removed)
    try:
        reap_stale(job_store, settings)
        sweep_datasets(job_store, settings)
    except Exception:  # the queue may come up later; the consumer retries
        log.warning("the job store is unreachable at start", exc_info=True)
    huey = make_huey(settings, namespace=namespace)
    consumer = huey.create_consumer(
        workers=workers, worker_type="process", periodic=False, initial_delay=0.05,
        max_delay=0.5, health_check_interval=5, shutdown_timeout=settings.graceful_timeout)
    _die_with_parent()
    me = f"{socket.gethostname()}:{os.getpid()}"
    searches = searcher(settings, job_store, huey)

    def announce_and_sweep() -> None:  # a search counts the slots of the live workers
        job_store.announce_worker(me, workers, settings.heartbeat_timeout)
        searches.sweep()

    with contextlib.suppress(Exception):
        job_store.announce_worker(me, workers, settings.heartbeat_timeout)
    reaper = Reaper(job_store, settings, also=announce_and_sweep)
    reaper.start()
    log.info("training worker started: %d process(es), queue %s", workers, settings.queue)
    try:
        consumer.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # the cleanup below is bounded
            signal.signal(signum, signal.SIG_IGN)
        reaper.stop()
        _join_processes(consumer, settings.graceful_timeout)
        end_own_jobs(job_store, settings, os.getpid())
        with contextlib.suppress(Exception):
            job_store.announce_worker(me, 0, 0)
        log.info("training worker stopped")


def main(settings: Settings, concurrency: int | None = None, parent: int | None = None) -> int:
    """``nnserve worker``: blocks until stopped; returns the exit status. With ``parent``, it
    also stops when that process dies (the embedded worker of ``nnserve serve``)."""
    if parent is not None:
        exit_with_parent(parent)
    configure_logging(settings.log_level, settings.log_format)
    metrics.init_worker_metrics(settings.worker_metrics_port, settings.host)
    run_worker(settings, concurrency)
    return 0
