/* resize.c - operator family (being written). */
#include "kernel.h"

const onyx_op_def onyx_ops_resize[] = {
    {0},
};
