#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("snapfleet %s\n", SF_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: snapfleet --version\n");
    return 2;
}
