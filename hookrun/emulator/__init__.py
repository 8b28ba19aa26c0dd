"""`hookrun emulate` and `hookrun manifest`: the kubelet's side of a container's life, on
real processes (a pure lifecycle machine and a thin I/O loop), its timeline, and the pod-spec
fragment that fits a config."""
