"""Channel adapters: each translates its framework's updates into flow events and back."""
