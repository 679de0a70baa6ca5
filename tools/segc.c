/* segc.c - the command-line tool (placeholder main while the subcommands are written). */
#include <stdio.h>
#include "segc.h"
int main(void) { printf("segc %s\n", segc_version()); return 0; }
