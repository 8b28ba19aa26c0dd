"""Running a hook: plan (pure), executor (owns every deadline, retry and wait), report and
its rendering, logging, and the service `run_hook` that opens the state, takes the lock,
plans once and executes."""
