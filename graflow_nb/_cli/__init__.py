"""Layer 7, the ``graflow-nb`` command."""
