"""Layer 6, front doors: ``workflow()`` and the ``Workflow`` methods that run it, choosing the front end
for where they run (a kernel, Voila, a script).
"""
