"""One module per event: each function here is the whole reaction of one queue to it."""
