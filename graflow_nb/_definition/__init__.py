"""Layer 3, workflow definition: ``@task``, ``a >> b``, ``a | b`` and the task graph."""
