"""What the frozen builds need at run time (the launcher link) and the self-check."""
