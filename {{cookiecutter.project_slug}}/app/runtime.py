"""The running service: every long-lived part, built once from the settings, started and
stopped together.

`create_app()` wraps a runtime in the HTTP app's lifespan; a worker process starts one
without any HTTP app. Route dependencies reach its parts through `app.core.dependencies`
(typed handles), never through `app.state` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy

from app.accounts.auth_backends import AccountJWTStrategy
from app.accounts.linked_accounts import DatabaseLinkedAccounts
from app.accounts.oauth_states import OAuthStates
from app.core.config import Settings
from app.core.database import Database
from app.core.interfaces import PluginPorts
from app.core.logging import configure_logging
from app.core.plugins import PluginRegistry, create_plugin_manager
from app.core.rate_limits import RateLimiter, create_rate_limiter
from app.notifications.delivery import Delivery
from app.notifications.suppressions import Suppressions
from app.operations.metrics import Metrics, create_metrics
from app.signed_api.key_cache import KeyCache, watched_key_cache
from app.signed_api.nonces import NonceStore, create_nonce_store


@dataclass
class Runtime:
    settings: Settings
    database: Database
    plugins: PluginRegistry
    nonce_store: NonceStore
    key_cache: KeyCache
    rate_limiter: RateLimiter
    delivery: Delivery
    jwt_strategy: AccountJWTStrategy
    oauth_states: OAuthStates
    # None unless METRICS_ENABLED.
    metrics: Metrics | None
    # Recipients delivery skips; plugins that hear of bounces and complaints add to it.
    suppressions: Suppressions

    @classmethod
    def build(
        cls, settings: Settings, *, plugin_manager: pluggy.PluginManager | None = None
    ) -> Runtime:
        """`plugin_manager` lets a caller (a test) register extra plugins before they are asked."""
        configure_logging(settings.log_level, as_json=settings.logs_as_json)
        database = Database(
            settings.database_url,
            echo=settings.database_echo,
            pool_size=settings.database_pool_size,
            slow_query_ms=settings.slow_query_ms,
        )
        plugins = PluginRegistry.collect(
            plugin_manager or create_plugin_manager(settings), settings
        )
        return cls(
            settings=settings,
            database=database,
            plugins=plugins,
            nonce_store=create_nonce_store(settings, database),
            key_cache=watched_key_cache(database, settings.api_key_cache_seconds),
            rate_limiter=create_rate_limiter(settings),
            delivery=Delivery(settings),
            jwt_strategy=AccountJWTStrategy(
                database,
                settings.secret_key,
                settings.auth_token_lifetime_seconds,
                settings.user_cache_seconds,
            ),
            oauth_states=OAuthStates.of(settings, database),
            metrics=create_metrics(settings, plugins.channels),
            suppressions=Suppressions(database),
        )

    async def start(self) -> None:
        self.database.bind_models()
        if self.settings.should_create_tables:
            await self.database.create_all()
        self.plugins.log_unconfigured()
        await self.plugins.start(PluginPorts(linked_accounts=DatabaseLinkedAccounts(self.database)))
        # Starts the broker; where this process delivers, also takes over rows left undelivered.
        await self.delivery.start(self.database, self.plugins)

    async def stop(self) -> None:
        await self.delivery.stop()
        await self.plugins.close()
        await self.nonce_store.close()
        await self.rate_limiter.close()
        await self.database.dispose()
