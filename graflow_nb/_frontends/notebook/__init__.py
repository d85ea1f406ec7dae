"""The notebook front end: the kernel pump, the panel and its controls, the run handle. The only
modules that import IPython or ipywidgets.
"""
