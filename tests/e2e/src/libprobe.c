const char *probe_message(void) { return "libprobe loaded"; }
