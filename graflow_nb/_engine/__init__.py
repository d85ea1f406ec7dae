"""Layer 4, the engine: running a run (the engine, which schedules its tasks; the task context; the
channel), the broker that waits for answers, deadlines, what a request's events tell, and answering
or cancelling runs from anywhere.

Nothing here imports a front end, IPython or ipywidgets: presenters meet the engine through
:mod:`.presenting`.
"""
