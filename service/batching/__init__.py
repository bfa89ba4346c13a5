"""Dynamic batching: the per-model queue, the policy in force, and length-aware padded runs."""
