/* cmd_video.c - `segc video`: SAM 2 video object tracking. The tracker lands with the SAM 2 video
   model; until then the command checks its arguments and says clearly that no model can track. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_help(void) {
    printf("usage: segc video -m MODEL.segc --frames DIR --prompt FRAME:OBJ:X,Y,LABEL ... -o OUTDIR\n\n"
           "Tracks prompted objects through a directory of frames with SAM 2.\n"
           "This build has no video-capable model yet (SAM 2 video is not implemented).\n");
}

int cmd_video(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            print_help();
            return CLI_EXIT_OK;
        }
    }
    fprintf(stderr, "segc video: not available in this build: SAM 2 video tracking is not implemented yet\n");
    return CLI_EXIT_FAIL;
}
