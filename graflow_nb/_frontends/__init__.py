"""Layer 5, front ends: where people (or a file of answers) see and answer requests: the notebook's
widgets, the terminal, answers files.
"""
