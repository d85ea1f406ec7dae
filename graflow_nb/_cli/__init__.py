"""Layer 6, the ``graflow-nb`` command."""
