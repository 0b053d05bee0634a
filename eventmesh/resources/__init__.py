"""Resources eventmesh emulates: schedules, queues, streams and their helpers."""
