/* inputs.h - the list of images a command works on: files given with -i, and directories expanded
   to the image files they contain (sorted by name, so runs are reproducible). */
#ifndef SEGC_TOOLS_INPUTS_H
#define SEGC_TOOLS_INPUTS_H

typedef struct cli_inputs {
    char **paths;   /* owned */
    int count;
    int capacity;
} cli_inputs;

/* Adds a file, or every image file (.png .jpg .jpeg .bmp .tga .ppm .pgm .gif .psd .hdr) of a
   directory. Returns 0 on success; prints the error and returns -1 otherwise. */
int cli_inputs_add(const char *cmd, cli_inputs *in, const char *path);
void cli_inputs_free(cli_inputs *in);

/* Writes the file name without directory and extension ("dir/a.b.png" -> "a.b") into buf. */
void cli_path_stem(const char *path, char *buf, int size);

#endif
