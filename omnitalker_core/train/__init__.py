"""Training: the flow-matching loop (`trainer`) and its resumable state (`state`)."""
