/* passes.c - runs the graph passes in order and reports what each did. */
#include "passes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pass_def {
    const char *name;
    const char *what;
    pass_fn run;
} pass_def;

static const pass_def passes[] = {
    {"eliminate", "removes Identity, inference Dropout, Pad by zero and nodes nothing reads", pass_eliminate},
    {"constfold", "folds Constant nodes, nodes with constant inputs and Shape of known dims", pass_constfold},
    {"bn_fold", "folds BatchNormalization into the Conv/ConvTranspose/Gemm/MatMul before it", pass_bn_fold},
    {"matmul_add", "MatMul + Add(bias) -> Gemm (2-D) or FusedMatMul", pass_matmul_add},
    {"layernorm", "recognises LayerNormalization from ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add", pass_layernorm},
    {"gelu", "recognises GELU from x*0.5*(1+erf(x/sqrt 2))", pass_gelu},
    {"attention", "MatMul -> scale -> Softmax -> MatMul into one Attention node", pass_attention},
    {"residual", "Add of a same-shaped value into the Conv that produces the other operand", pass_residual},
    {"activation", "activation (Relu, Clip, LeakyRelu, HardSwish, HardSigmoid, Sigmoid, SiLU, Tanh, Gelu) into the Conv/Gemm/MatMul before it", pass_activation},
    {"qdq_fuse", "DequantizeLinear -> Conv/Gemm/MatMul [-> QuantizeLinear] and DynamicQuantizeLinear -> MatMulInteger groups into integer QConv/QMatMul", pass_qdq_fuse},
    {"layout", "moves convolutions, pools and the layout-agnostic ops between them to NHWC (ai.onyx.NhwcConv...)", pass_layout},
};
#define N_PASSES ((int)(sizeof passes / sizeof passes[0]))

const char *onyx_pass_name(int i, const char **description)
{
    if (i < 0 || i >= N_PASSES) return NULL;
    if (description) *description = passes[i].what;
    return passes[i].name;
}

onyx_status pass_fail(onyx_error *err, onyx_status code, const char *fmt, ...)
{
    if (err && err->code == ONYX_OK) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void pass_note(pass_ctx *c, const char *label)
{
    for (int i = 0; i < c->n_notes; i++)
        if (!strcmp(c->note_label[i], label)) {
            c->note_count[i]++;
            return;
        }
    if (c->n_notes == PASS_MAX_NOTES) return;
    c->note_label[c->n_notes] = label;
    c->note_count[c->n_notes++] = 1;
}

bool pass_may_emit(pass_ctx *c, const char *op)
{
    if (c->standard_ops) return false;
    if (c->runnable_only && !onyx_find_op("ai.onyx", op)) return false;
    return ge_import_domain(c->m, "ai.onyx", 1);
}

bool pass_only_feeds(const pass_ctx *c, const char *value, int consumer)
{
    return ge_single_consumer(c->g, value) == consumer;
}

/* Finds name in the comma-separated list. */
static bool listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

onyx_status onyx_model_optimize(onyx_model *m, const onyx_optimize_options *opt, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    onyx_optimize_options defaults = {0};
    if (!opt) opt = &defaults;
    if (opt->passes) { /* every name must be known: a typo must not silently skip a pass */
        for (const char *p = opt->passes; *p;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            bool known = len == 0;
            for (int i = 0; i < N_PASSES && !known; i++)
                known = strlen(passes[i].name) == len && !strncmp(passes[i].name, p, len);
            if (!known) {
                char names[512] = "";
                for (int i = 0; i < N_PASSES; i++)
                    snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", passes[i].name);
                return pass_fail(err, ONYX_E_INVALID, "unknown pass '%.*s' (passes: %s)", (int)len, p, names);
            }
            if (!e) break;
            p = e + 1;
        }
    }
    pass_ctx c = {.m = m, .g = m->graph, .standard_ops = opt->standard_ops != 0, .runnable_only = opt->runnable_only != 0};
    onyx_status st = ONYX_OK;
    for (int i = 0; i < N_PASSES && st == ONYX_OK; i++) {
        if (opt->passes && !listed(opt->passes, passes[i].name)) continue;
        c.n_notes = 0;
        int before = ge_live_nodes(c.g);
        st = passes[i].run(&c, err);
        if (st != ONYX_OK) break;
        ge_compact(m, c.g);
        if (!ge_toposort(c.g)) {
            st = pass_fail(err, ONYX_E_INVALID, "pass '%s' left a cycle in the graph", passes[i].name);
            break;
        }
        char fused[1024] = "";
        for (int k = 0; k < c.n_notes; k++)
            snprintf(fused + strlen(fused), sizeof fused - strlen(fused), "%s%s x%d", k ? ", " : "", c.note_label[k],
                     c.note_count[k]);
        onyx_pass_report r = {passes[i].name, before, ge_live_nodes(c.g), fused};
        if (opt->on_pass) opt->on_pass(opt->ud, &r, m);
    }
    pass_shapes_free(&c);
    return st;
}
