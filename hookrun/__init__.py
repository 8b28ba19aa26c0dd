"""hookrun: Kubernetes lifecycle hooks with timeouts, retries, budgets and visible logs."""

__version__ = "0.1.0"
