"""Running the service: health checks and Prometheus metrics."""
