"""Change events for the systems downstream: the outbox, the pull feed and the broker publisher."""
