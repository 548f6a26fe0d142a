/* control_flow.c - If, Loop, Scan (being written). */
#include "../ops/kernel.h"

const onyx_op_def onyx_ops_control[] = {
    {0},
};
