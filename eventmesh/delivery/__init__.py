"""The delivery layer: how a resource's messages reach their targets, and are retried."""
