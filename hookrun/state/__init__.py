"""What survives a hookrun process: the state directory, `once` markers and hook locks."""
