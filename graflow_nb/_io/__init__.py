"""Layer 3, files and network: the checkpoint store, run claims, the decision log, where the notebook is,
the commands that answer a request, and notification delivery.
"""
