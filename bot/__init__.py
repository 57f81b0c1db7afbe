"""Balie application: settings, composition roots, CLI, runtimes and notifications."""
