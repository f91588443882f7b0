#include <stdio.h>
#include <unistd.h>
int main(void) { char b[64]; long n; while ((n = read(0, b, sizeof b)) > 0) { printf("read %ld: [%.*s]\n", n, (int)n, b); fflush(stdout); } printf("end %ld\n", n); return 0; }
