/* A dynamically linked tool that needs the image's LD_LIBRARY_PATH to find libprobe.so.1. */
#include <stdio.h>
#include <stdlib.h>

const char *probe_message(void);

int main(void) {
    const char *path = getenv("LD_LIBRARY_PATH");
    printf("probe: %s, LD_LIBRARY_PATH=%s\n", probe_message(), path ? path : "(unset)");
    return 0;
}
