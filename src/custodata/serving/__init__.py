"""The served customer view: the published total domain in the operational store, for indexed look-ups."""
