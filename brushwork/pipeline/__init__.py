"""Work as requests: the runner every front end calls, and batches of requests."""
