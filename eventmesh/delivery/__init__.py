"""The delivery layer: where a resource's message goes, how it gets there, how it is retried.

Every source that sends somewhere (bus targets, topic subscriptions, bucket notifications,
schedule targets, function destinations and dead letters) resolves "a target" here, one kind
per module of :mod:`eventmesh.delivery.targets` (function, queue, topic, stream, bus, HTTP
endpoint, callable, destination), delivers through it, classifies a failed attempt one way
(:mod:`~eventmesh.delivery.errors`), retries under one policy type
(:mod:`~eventmesh.delivery.retry`), posts HTTP through one sender with one client and the
mesh's host policy (:mod:`~eventmesh.delivery.http`), and keeps deliveries waiting to retry in
the QueueStore (:mod:`~eventmesh.delivery.durable`), so on durable storage they survive a crash.
"""
