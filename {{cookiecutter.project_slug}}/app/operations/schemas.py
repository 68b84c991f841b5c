from pydantic import BaseModel


class HealthResponse(BaseModel):
    """Each part the service depends on: "ok" or "unavailable". `broker` appears when
    TASK_BROKER is redis or rabbitmq, `redis` when REDIS_URL is set."""

    status: str
    database: str
    broker: str | None = None
    redis: str | None = None


class LiveResponse(BaseModel):
    status: str
