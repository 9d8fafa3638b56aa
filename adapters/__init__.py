"""Platform adapters: translate platform events into engine calls and draw replies for the platform."""
