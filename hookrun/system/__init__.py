"""The operating system as hookrun uses it: clocks, the process table, supervised commands,
signals and pidfds, output splitting, bounded calls and atomic files. Imports nothing else
of hookrun but its errors."""
