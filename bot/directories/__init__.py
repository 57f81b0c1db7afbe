"""The directory adapters, one module per kind of :class:`flows.directory.Directory`."""
