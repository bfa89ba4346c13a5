"""What the service tells operators: Prometheus metrics, per-request IDs and counts."""
