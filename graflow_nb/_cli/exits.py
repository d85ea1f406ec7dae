"""The ``graflow-nb`` command's exit codes."""

EXIT_OK = 0
EXIT_REFUSED = 1  # a well-formed command the state does not allow (unknown id, already answered)
EXIT_USAGE = 2  # a malformed command or an answer that does not fit (argparse's code too)
