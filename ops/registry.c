/* registry.c - every operator family compiled into this build. The executor
 * binds each node to the first definition whose domain and name match. */
#include "kernel.h"

#include <stddef.h>

extern const onyx_op_def onyx_ops_unary[];
extern const onyx_op_def onyx_ops_binary[];
extern const onyx_op_def onyx_ops_activation[];
extern const onyx_op_def onyx_ops_cast[];
extern const onyx_op_def onyx_ops_conv[];
extern const onyx_op_def onyx_ops_pool[];
extern const onyx_op_def onyx_ops_normalization[];
extern const onyx_op_def onyx_ops_reduce[];
extern const onyx_op_def onyx_ops_softmax[];
extern const onyx_op_def onyx_ops_shape[];
extern const onyx_op_def onyx_ops_gather[];
extern const onyx_op_def onyx_ops_layout[];
extern const onyx_op_def onyx_ops_resize[];
extern const onyx_op_def onyx_ops_matmul[];
extern const onyx_op_def onyx_ops_quantize[];
extern const onyx_op_def onyx_ops_rnn[];
extern const onyx_op_def onyx_ops_signal[];
extern const onyx_op_def onyx_ops_detection[];
extern const onyx_op_def onyx_ops_sequence[];
extern const onyx_op_def onyx_ops_string[];
extern const onyx_op_def onyx_ops_control[];
extern const onyx_op_def onyx_ops_training[];
extern const onyx_op_def onyx_ops_attention[];
extern const onyx_op_def onyx_ops_fused_linear[];
extern const onyx_op_def onyx_ops_conv_nhwc[];
extern const onyx_op_def onyx_ops_pool_nhwc[];
extern const onyx_op_def onyx_ops_norm_nhwc[];
extern const onyx_op_def onyx_ops_convt_nhwc[];
extern const onyx_op_def onyx_ops_qmatmul[];
extern const onyx_op_def onyx_ops_qconv[];

static const onyx_op_def *const families[] = {
    onyx_ops_unary,
    onyx_ops_binary,
    onyx_ops_activation,
    onyx_ops_cast,
    onyx_ops_conv,
    onyx_ops_pool,
    onyx_ops_normalization,
    onyx_ops_reduce,
    onyx_ops_softmax,
    onyx_ops_shape,
    onyx_ops_gather,
    onyx_ops_layout,
    onyx_ops_resize,
    onyx_ops_matmul,
    onyx_ops_quantize,
    onyx_ops_rnn,
    onyx_ops_signal,
    onyx_ops_detection,
    onyx_ops_sequence,
    onyx_ops_string,
    onyx_ops_control,
    onyx_ops_training,
    onyx_ops_attention,
    onyx_ops_fused_linear,
    onyx_ops_conv_nhwc,
    onyx_ops_pool_nhwc,
    onyx_ops_norm_nhwc,
    onyx_ops_convt_nhwc,
    onyx_ops_qmatmul,
    onyx_ops_qconv,
};

const onyx_op_def *onyx_find_op(const char *domain, const char *name)
{
    /* "ai.onnx" is an alias of the default domain */
    if (domain && strcmp(domain, "ai.onnx") == 0) domain = "";
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const onyx_op_def *d = families[f]; d->name; d++)
            if (strcmp(d->domain, domain ? domain : "") == 0 && strcmp(d->name, name) == 0)
                return d;
    return NULL;
}
