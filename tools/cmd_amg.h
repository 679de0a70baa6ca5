/* cmd_amg.h - `segc amg`: SAM 2 automatic mask generation ("segment everything") on one image; writes
   OUTDIR/masks.json (the records of SAM2AutomaticMaskGenerator, COCO RLE) and OUTDIR/overlay.png. */
#ifndef SEGC_TOOLS_CMD_AMG_H
#define SEGC_TOOLS_CMD_AMG_H

/* argv[0] is "amg"; returns a CLI_EXIT_* code. */
int cmd_amg(int argc, char **argv);

#endif
