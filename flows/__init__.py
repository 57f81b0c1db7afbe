"""Conversations as framework-independent state machines, and the desk's domain rules."""
