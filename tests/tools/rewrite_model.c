/* rewrite_model.c - load MODEL, write it back as OUT through onyx's ONNX
 * writer, load OUT again and check that writing it once more gives the same
 * bytes (load -> write -> load is lossless). Exit 0 on success. */
#include "onyx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: rewrite_model MODEL OUT\n");
        return 2;
    }
    onyx_error err;
    onyx_model *m, *again;
    void *first, *second;
    size_t n1, n2;
    if (onyx_model_load_file(argv[1], &m, &err) != ONYX_OK) {
        fprintf(stderr, "rewrite_model: %s\n", err.message);
        return 2;
    }
    if (onyx_model_save(m, argv[2], &err) != ONYX_OK || onyx_model_serialize(m, &first, &n1, &err) != ONYX_OK) {
        fprintf(stderr, "rewrite_model: %s\n", err.message);
        return 2;
    }
    if (onyx_model_load_file(argv[2], &again, &err) != ONYX_OK ||
        onyx_model_serialize(again, &second, &n2, &err) != ONYX_OK) {
        fprintf(stderr, "rewrite_model: the written file does not load: %s\n", err.message);
        return 1;
    }
    int same = n1 == n2 && memcmp(first, second, n1) == 0;
    printf("%s: %zu bytes written, %s\n", argv[1], n1, same ? "reload identical" : "RELOAD DIFFERS");
    free(first);
    free(second);
    onyx_model_free(m);
    onyx_model_free(again);
    return same ? 0 : 1;
}
