"""Layer 1, utilities: small helpers that import nothing else of graflow_nb (JSON checks, atomic files,
background writes, the shared worker pool, which process and front end this is).
"""
