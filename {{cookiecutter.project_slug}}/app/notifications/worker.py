"""The entry point of worker processes: `taskiq worker app.notifications.worker:broker`.

Each worker process starts the API's own runtime (app/runtime.py: database, plugins,
delivery) from the same settings, without serving HTTP, and delivers what the broker hands
it. `TASK_BROKER=inprocess` has no workers: the API process delivers by itself.
"""

from __future__ import annotations

import gc
import logging
from functools import partial

from taskiq import AsyncBroker, TaskiqEvents, TaskiqState

from app import PROJECT_SLUG
from app.core.config import Settings, TaskBroker, get_settings
from app.notifications.delivery import create_broker
from app.runtime import Runtime

logger = logging.getLogger(f"{PROJECT_SLUG}.delivery")


async def _start_worker(settings: Settings, broker: AsyncBroker, state: TaskiqState) -> None:
    """A worker process's startup: the API's own runtime, delivering from `broker`.

    The same runtime the API starts (the database, the plugins, delivery), without HTTP.
    """
    runtime = Runtime.build(settings)
    runtime.delivery.use_broker(broker)
    await runtime.start()
    state.runtime = runtime
    # What startup built (the app, the models, the AWS client's service descriptions) lives
    # as long as the process: kept out of the collector's full passes, which would
    # otherwise stop every delivery for a few hundred milliseconds now and then.
    gc.collect()
    gc.freeze()
    plugins = runtime.plugins
    logger.info(
        "worker delivering from the %s queue %r; channels: %s",
        settings.delivery_broker.value,
        settings.task_queue,
        ", ".join(plugins.channels) or "none",
    )


async def _stop_worker(state: TaskiqState) -> None:
    runtime: Runtime = state.runtime
    await runtime.stop()


def create_worker_broker(settings: Settings) -> AsyncBroker:
    """The broker of `TASK_BROKER`, starting and stopping this process's runtime with it."""
    broker = create_broker(settings)
    broker.add_event_handler(TaskiqEvents.WORKER_STARTUP, partial(_start_worker, settings, broker))
    broker.add_event_handler(TaskiqEvents.WORKER_SHUTDOWN, _stop_worker)
    return broker


_worker_broker: AsyncBroker | None = None


def __getattr__(name: str) -> AsyncBroker:
    """`app.notifications.worker:broker`, what `taskiq worker` runs, built from the settings on
    first use."""
    global _worker_broker
    if name != "broker":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _worker_broker is None:
        settings = get_settings()
        if settings.delivery_broker is TaskBroker.INPROCESS:
            raise RuntimeError(
                "TASK_BROKER is inprocess: the API process delivers by itself and there is "
                "nothing for `taskiq worker` to do. Set TASK_BROKER=redis or rabbitmq and "
                "BROKER_URL to deliver from worker processes."
            )
        _worker_broker = create_worker_broker(settings)
    return _worker_broker
