/* control_flow.c - If, Loop, Scan and SequenceMap: operators that run
 * subgraphs. They live in the runtime because only the executor can run a
 * graph; they reach it through k->run_subgraph. */
#include "../ops/kernel.h"
#include "graph.h"

#include <stdlib.h>

static onyx_graph *graph_attr(onyx_kctx *k, const char *name)
{
    const onyx_attr *a = k_attr(k, name);
    return a && a->type == ATTR_GRAPH ? a->g : NULL;
}

static bool scalar_true(const onyx_tensor *t)
{
    return t && t->kind == ONYX_KIND_TENSOR && tensor_numel_of(t->rank, t->dims) >= 1 &&
           k_get_f64(t, 0) != 0;
}

/* Moves src into the node's output slot i. */
static onyx_status emit(onyx_kctx *k, int i, onyx_tensor *src)
{
    if (k_output_wanted(k, i)) {
        tensor_release(k->outputs[i]);
        *k->outputs[i] = *src;
    } else {
        tensor_release(src);
    }
    memset(src, 0, sizeof *src);
    return ONYX_OK;
}

static void release_all(onyx_tensor *t, int n)
{
    for (int i = 0; i < n; i++) tensor_release(&t[i]);
}

static onyx_status op_if(onyx_kctx *k)
{
    const onyx_tensor *cond = k_input(k, 0);
    if (!cond || cond->kind != ONYX_KIND_TENSOR || tensor_numel_of(cond->rank, cond->dims) != 1)
        return k_fail(k, ONYX_E_SHAPE, "cond must be a tensor with one element");
    onyx_graph *g = graph_attr(k, scalar_true(cond) ? "then_branch" : "else_branch");
    if (!g) return k_fail(k, ONYX_E_INVALID, "missing then_branch/else_branch graph attribute");
    if (g->n_outputs != k->n_outputs)
        return k_fail(k, ONYX_E_INVALID, "branch '%s' has %d outputs, the node %d", g->name, g->n_outputs, k->n_outputs);
    onyx_tensor *outs = calloc((size_t)g->n_outputs + 1, sizeof *outs);
    if (!outs) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    onyx_status st = k->run_subgraph(k, g, 0, NULL, g->n_outputs, outs);
    for (int i = 0; i < g->n_outputs && st == ONYX_OK; i++) emit(k, i, &outs[i]);
    release_all(outs, g->n_outputs);
    free(outs);
    return st;
}

/* Appends one iteration's value to a growing stack (a sequence used as a list). */
static onyx_status push_copy(onyx_kctx *k, onyx_tensor *list, onyx_tensor *v)
{
    onyx_tensor *c = calloc(1, sizeof *c);
    if (!c) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    *c = *v; /* take ownership */
    memset(v, 0, sizeof *v);
    if (onyx_sequence_append(list, c) != ONYX_OK) {
        onyx_tensor_free(c);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    return ONYX_OK;
}

/* Stacks equally shaped tensors along a new axis. */
static onyx_status stack(onyx_kctx *k, const onyx_tensor *list, int axis, bool reverse, onyx_tensor *out)
{
    if (list->seq_len == 0) { /* no iteration ran: an empty stack */
        int64_t zero = 0;
        return tensor_reshape_alloc(out, list->dtype ? list->dtype : ONYX_FLOAT, 1, &zero) ? ONYX_OK
               : k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    const onyx_tensor *f = list->seq[0];
    if (f->kind != ONYX_KIND_TENSOR || f->dtype == ONYX_STRING)
        return k_fail(k, ONYX_E_UNSUPPORTED, "scan outputs must be numeric tensors");
    if (f->rank + 1 > ONYX_MAX_RANK) return k_fail(k, ONYX_E_LIMIT, "scan output rank too large");
    if (axis < 0) axis += f->rank + 1;
    if (axis < 0 || axis > f->rank) return k_fail(k, ONYX_E_INVALID, "scan output axis out of range");
    int64_t dims[ONYX_MAX_RANK];
    for (int d = 0, s = 0; d <= f->rank; d++) dims[d] = d == axis ? list->seq_len : f->dims[s++];
    for (int i = 1; i < list->seq_len; i++) {
        const onyx_tensor *t = list->seq[i];
        bool same = t->kind == ONYX_KIND_TENSOR && t->dtype == f->dtype && t->rank == f->rank;
        for (int d = 0; same && d < f->rank; d++) same = t->dims[d] == f->dims[d];
        if (!same) return k_fail(k, ONYX_E_SHAPE, "iteration %d produced a scan output of a different shape or type", i);
    }
    if (!tensor_reshape_alloc(out, f->dtype, f->rank + 1, dims)) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    size_t es = onyx_dtype_size(f->dtype);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= f->dims[d];
    for (int d = axis; d < f->rank; d++) inner *= f->dims[d];
    int n = list->seq_len;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = list->seq[reverse ? n - 1 - i : i]->data;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)out->data + ((o * n + i) * inner) * es, src + o * inner * es, (size_t)(inner * es));
    }
    return ONYX_OK;
}

static onyx_status op_loop(onyx_kctx *k)
{
    onyx_graph *body = graph_attr(k, "body");
    if (!body) return k_fail(k, ONYX_E_INVALID, "missing body graph attribute");
    const onyx_tensor *m_in = k_input(k, 0), *c_in = k_input(k, 1);
    int n_carried = k->n_inputs - 2;
    if (n_carried < 0 || body->n_inputs != n_carried + 2 || body->n_outputs < n_carried + 1)
        return k_fail(k, ONYX_E_INVALID, "body has %d inputs and %d outputs for %d loop-carried values",
                      body->n_inputs, body->n_outputs, n_carried);
    int n_scan = body->n_outputs - 1 - n_carried;
    int64_t max_trips = INT64_MAX;
    if (m_in && m_in->kind == ONYX_KIND_TENSOR) {
        int64_t v;
        if (k_read_ints(m_in, &v, 1) != 1) return k_fail(k, ONYX_E_SHAPE, "M must be an integer scalar");
        max_trips = v;
    }
    bool cond = c_in ? scalar_true(c_in) : true;
    onyx_tensor *state = calloc((size_t)n_carried + 1, sizeof *state);
    onyx_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs);
    onyx_tensor *scans = calloc((size_t)n_scan + 1, sizeof *scans);
    const onyx_tensor **ins = calloc((size_t)n_carried + 2, sizeof *ins);
    onyx_tensor iter = {0}, cond_t = {0};
    onyx_status st = ONYX_OK;
    int64_t one = 1;
    if (!state || !outs || !scans || !ins || !tensor_reshape_alloc(&iter, ONYX_INT64, 0, &one) ||
        !tensor_reshape_alloc(&cond_t, ONYX_BOOL, 0, &one))
        st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < n_carried && st == ONYX_OK; i++) {
        const onyx_tensor *v = k_input(k, 2 + i);
        if (!v) st = k_fail(k, ONYX_E_INVALID, "loop-carried input %d is missing", i);
        else if (!tensor_copy(&state[i], v)) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_scan; i++) {
        scans[i].kind = ONYX_KIND_SEQUENCE;
        scans[i].owns_data = true;
    }
    for (int64_t it = 0; st == ONYX_OK && it < max_trips && cond; it++) {
        *(int64_t *)iter.data = it;
        *(uint8_t *)cond_t.data = cond;
        ins[0] = &iter;
        ins[1] = &cond_t;
        for (int i = 0; i < n_carried; i++) ins[2 + i] = &state[i];
        st = k->run_subgraph(k, body, n_carried + 2, ins, body->n_outputs, outs);
        if (st != ONYX_OK) break;
        cond = scalar_true(&outs[0]);
        for (int i = 0; i < n_carried; i++) {
            tensor_release(&state[i]);
            state[i] = outs[1 + i];
            memset(&outs[1 + i], 0, sizeof outs[1 + i]);
        }
        for (int i = 0; i < n_scan && st == ONYX_OK; i++) {
            if (outs[1 + n_carried + i].kind == ONYX_KIND_TENSOR) scans[i].dtype = outs[1 + n_carried + i].dtype;
            st = push_copy(k, &scans[i], &outs[1 + n_carried + i]);
        }
        release_all(outs, body->n_outputs);
    }
    for (int i = 0; i < n_carried && st == ONYX_OK; i++) emit(k, i, &state[i]);
    for (int i = 0; i < n_scan && st == ONYX_OK; i++) {
        onyx_tensor stacked = {0};
        st = stack(k, &scans[i], 0, false, &stacked);
        if (st == ONYX_OK) emit(k, n_carried + i, &stacked);
    }
    if (state) release_all(state, n_carried);
    if (outs) release_all(outs, body->n_outputs);
    if (scans) release_all(scans, n_scan);
    tensor_release(&iter);
    tensor_release(&cond_t);
    free(state), free(outs), free(scans), free(ins);
    return st;
}

/* Slice index i of t along axis (a copy without that axis). */
static bool slice_axis(const onyx_tensor *t, int axis, int64_t i, onyx_tensor *out)
{
    int64_t dims[ONYX_MAX_RANK];
    for (int d = 0, s = 0; d < t->rank; d++)
        if (d != axis) dims[s++] = t->dims[d];
    if (!tensor_reshape_alloc(out, t->dtype, t->rank - 1, dims)) return false;
    size_t es = onyx_dtype_size(t->dtype);
    int64_t outer = 1, inner = 1, n = t->dims[axis];
    for (int d = 0; d < axis; d++) outer *= t->dims[d];
    for (int d = axis + 1; d < t->rank; d++) inner *= t->dims[d];
    for (int64_t o = 0; o < outer; o++)
        memcpy((uint8_t *)out->data + o * inner * es, (const uint8_t *)t->data + ((o * n + i) * inner) * es, (size_t)(inner * es));
    return true;
}

/* The Scan loop of opset 9+: states[0..n_state) and scan inputs scanned along
 * axes[]; writes n_state final states then the stacked scan outputs. */
typedef struct scan_spec {
    int n_state, m;
    const onyx_tensor *const *state_in;
    const onyx_tensor *const *scan_in;
    const int *axes;
    const int64_t *in_dirs, *out_axes, *out_dirs;
    int n_in_dirs, n_out_axes, n_out_dirs;
} scan_spec;

static onyx_status scan_run(onyx_kctx *k, onyx_graph *body, const scan_spec *sp, onyx_tensor *results)
{
    int n_state = sp->n_state, m = sp->m, n_scan_out = body->n_outputs - n_state;
    int64_t len = m ? sp->scan_in[0]->dims[sp->axes[0]] : 0;
    onyx_tensor *state = calloc((size_t)n_state + 1, sizeof *state), *slices = calloc((size_t)m + 1, sizeof *slices);
    onyx_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs), *scans = calloc((size_t)n_scan_out + 1, sizeof *scans);
    const onyx_tensor **ins = calloc((size_t)(n_state + m) + 1, sizeof *ins);
    onyx_status st = ONYX_OK;
    if (!state || !slices || !outs || !scans || !ins) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < n_state && st == ONYX_OK; i++)
        if (!tensor_copy(&state[i], sp->state_in[i])) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < n_scan_out && st == ONYX_OK; i++) {
        scans[i].kind = ONYX_KIND_SEQUENCE;
        scans[i].owns_data = true;
    }
    for (int64_t it = 0; st == ONYX_OK && it < len; it++) {
        for (int j = 0; j < m && st == ONYX_OK; j++) {
            bool rev = sp->n_in_dirs > j && sp->in_dirs[j] == 1;
            if (!slice_axis(sp->scan_in[j], sp->axes[j], rev ? len - 1 - it : it, &slices[j]))
                st = k_fail(k, ONYX_E_NOMEM, "out of memory");
            ins[n_state + j] = &slices[j];
        }
        for (int i = 0; i < n_state; i++) ins[i] = &state[i];
        if (st == ONYX_OK) st = k->run_subgraph(k, body, n_state + m, ins, body->n_outputs, outs);
        if (st != ONYX_OK) break;
        for (int i = 0; i < n_state; i++) {
            tensor_release(&state[i]);
            state[i] = outs[i];
            memset(&outs[i], 0, sizeof outs[i]);
        }
        for (int i = 0; i < n_scan_out && st == ONYX_OK; i++) {
            scans[i].dtype = outs[n_state + i].dtype;
            st = push_copy(k, &scans[i], &outs[n_state + i]);
        }
        release_all(outs, body->n_outputs);
    }
    for (int i = 0; i < n_state && st == ONYX_OK; i++) {
        results[i] = state[i];
        memset(&state[i], 0, sizeof state[i]);
    }
    for (int i = 0; i < n_scan_out && st == ONYX_OK; i++) {
        int axis = sp->n_out_axes > i ? (int)sp->out_axes[i] : 0;
        st = stack(k, &scans[i], axis, sp->n_out_dirs > i && sp->out_dirs[i] == 1, &results[n_state + i]);
    }
    if (state) release_all(state, n_state);
    if (slices) release_all(slices, m);
    if (outs) release_all(outs, body->n_outputs);
    if (scans) release_all(scans, n_scan_out);
    free(state), free(slices), free(outs), free(scans), free(ins);
    return st;
}

static onyx_status op_scan(onyx_kctx *k)
{
    onyx_graph *body = graph_attr(k, "body");
    if (!body) return k_fail(k, ONYX_E_INVALID, "missing body graph attribute");
    /* opset 8 puts sequence_lens first and a batch axis in front of everything */
    bool batched = k->opset < 9;
    int first = batched ? 1 : 0;
    int64_t m = k_attr_int(k, "num_scan_inputs", -1);
    int n_state = k->n_inputs - first - (int)m;
    if (m < 1 || m > 64 || n_state < 0 || body->n_inputs != n_state + m || body->n_outputs < n_state)
        return k_fail(k, ONYX_E_INVALID, "num_scan_inputs %lld does not fit %d inputs and a body with %d inputs",
                      (long long)m, k->n_inputs, body->n_inputs);
    if (batched && k_input(k, 0)) return k_fail(k, ONYX_E_UNSUPPORTED, "Scan-8 with sequence_lens is not supported");
    scan_spec sp = {n_state, (int)m, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0};
    sp.n_in_dirs = k_attr_ints(k, batched ? "directions" : "scan_input_directions", &sp.in_dirs);
    sp.n_out_axes = k_attr_ints(k, "scan_output_axes", &sp.out_axes);
    sp.n_out_dirs = k_attr_ints(k, "scan_output_directions", &sp.out_dirs);
    const int64_t *in_axes = NULL;
    int n_in_axes = k_attr_ints(k, "scan_input_axes", &in_axes);
    int axes[64];
    int64_t len = -1, batch = -1;
    for (int j = 0; j < m; j++) {
        const onyx_tensor *x = k_input(k, first + n_state + j);
        int need = batched ? 2 : 1;
        if (!x || x->kind != ONYX_KIND_TENSOR || x->rank < need) return k_fail(k, ONYX_E_SHAPE, "scan input %d must be a tensor of rank >= %d", j, need);
        if (x->dtype == ONYX_STRING) return k_fail(k, ONYX_E_UNSUPPORTED, "string scan inputs are not supported");
        if (batched) axes[j] = 0; /* of the per-batch slice */
        else if (!k_axis(n_in_axes > j ? in_axes[j] : 0, x->rank, &axes[j])) return k_fail(k, ONYX_E_INVALID, "scan_input_axes[%d] out of range", j);
        int64_t l = x->dims[batched ? 1 : axes[j]];
        if (len >= 0 && l != len) return k_fail(k, ONYX_E_SHAPE, "scan inputs have different lengths");
        len = l;
        if (batched && batch >= 0 && x->dims[0] != batch) return k_fail(k, ONYX_E_SHAPE, "scan inputs have different batch sizes");
        batch = x->dims[0];
    }
    sp.axes = axes;
    const onyx_tensor *ins[128];
    for (int i = 0; i < n_state + m; i++) {
        ins[i] = k_input(k, first + i);
        if (!ins[i] || ins[i]->kind != ONYX_KIND_TENSOR) return k_fail(k, ONYX_E_SHAPE, "input %d must be a tensor", first + i);
        if (batched && (ins[i]->rank < 1 || ins[i]->dims[0] != batch)) return k_fail(k, ONYX_E_SHAPE, "input %d has no batch axis of %lld", first + i, (long long)batch);
    }
    int n_out = body->n_outputs;
    onyx_tensor *res = calloc((size_t)n_out + 1, sizeof *res);
    if (!res) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    onyx_status st = ONYX_OK;
    if (!batched) {
        sp.state_in = ins;
        sp.scan_in = ins + n_state;
        st = scan_run(k, body, &sp, res);
    } else {
        /* run each batch item on its own and stack the results along axis 0 */
        onyx_tensor *lists = calloc((size_t)n_out + 1, sizeof *lists), *sl = calloc((size_t)(n_state + m) + 1, sizeof *sl);
        onyx_tensor *one = calloc((size_t)n_out + 1, sizeof *one);
        const onyx_tensor *slp[128];
        if (!lists || !sl || !one) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
        for (int o = 0; o < n_out && st == ONYX_OK; o++) {
            lists[o].kind = ONYX_KIND_SEQUENCE;
            lists[o].owns_data = true;
        }
        for (int64_t b = 0; b < batch && st == ONYX_OK; b++) {
            for (int i = 0; i < n_state + m && st == ONYX_OK; i++) {
                if (!slice_axis(ins[i], 0, b, &sl[i])) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
                slp[i] = &sl[i];
            }
            sp.state_in = slp;
            sp.scan_in = slp + n_state;
            if (st == ONYX_OK) st = scan_run(k, body, &sp, one);
            for (int o = 0; o < n_out && st == ONYX_OK; o++) {
                lists[o].dtype = one[o].dtype;
                st = push_copy(k, &lists[o], &one[o]);
            }
            if (sl) release_all(sl, n_state + m);
            if (one) release_all(one, n_out);
        }
        for (int o = 0; o < n_out && st == ONYX_OK; o++) st = stack(k, &lists[o], 0, false, &res[o]);
        if (lists) release_all(lists, n_out);
        free(lists), free(sl), free(one);
    }
    for (int o = 0; o < n_out && st == ONYX_OK; o++) emit(k, o, &res[o]);
    release_all(res, n_out);
    free(res);
    return st;
}

static onyx_status op_sequence_map(onyx_kctx *k)
{
    onyx_graph *body = graph_attr(k, "body");
    if (!body) return k_fail(k, ONYX_E_INVALID, "missing body graph attribute");
    const onyx_tensor *seq = k_input(k, 0);
    if (!seq || seq->kind != ONYX_KIND_SEQUENCE) return k_fail(k, ONYX_E_SHAPE, "input 0 must be a sequence");
    if (body->n_inputs != k->n_inputs || body->n_outputs != k->n_outputs)
        return k_fail(k, ONYX_E_INVALID, "body has %d inputs/%d outputs, the node %d/%d", body->n_inputs,
                      body->n_outputs, k->n_inputs, k->n_outputs);
    int n = seq->seq_len;
    for (int j = 1; j < k->n_inputs; j++) {
        const onyx_tensor *a = k_input(k, j);
        if (a && a->kind == ONYX_KIND_SEQUENCE && a->seq_len != n)
            return k_fail(k, ONYX_E_SHAPE, "input %d is a sequence of %d, input 0 of %d", j, a->seq_len, n);
    }
    onyx_tensor *outs = calloc((size_t)body->n_outputs + 1, sizeof *outs);
    const onyx_tensor **ins = calloc((size_t)k->n_inputs + 1, sizeof *ins);
    onyx_status st = ONYX_OK;
    if (!outs || !ins) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    onyx_tensor **res = calloc((size_t)k->n_outputs + 1, sizeof *res);
    if (!res) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int o = 0; o < k->n_outputs && st == ONYX_OK; o++) {
        const onyx_value_decl *d = &body->outputs[o];
        if (!(res[o] = k_output_sequence(k, o, d->dtype))) st = k->err->code;
    }
    for (int i = 0; i < n && st == ONYX_OK; i++) {
        ins[0] = seq->seq[i];
        for (int j = 1; j < k->n_inputs; j++) {
            const onyx_tensor *a = k_input(k, j);
            ins[j] = a && a->kind == ONYX_KIND_SEQUENCE ? a->seq[i] : a;
        }
        st = k->run_subgraph(k, body, k->n_inputs, ins, body->n_outputs, outs);
        for (int o = 0; o < k->n_outputs && st == ONYX_OK; o++) {
            if (outs[o].kind == ONYX_KIND_TENSOR) res[o]->dtype = outs[o].dtype;
            st = push_copy(k, res[o], &outs[o]);
        }
        if (outs) release_all(outs, body->n_outputs);
    }
    free(outs), free(ins), free(res);
    return st;
}

const onyx_op_def onyx_ops_control[] = {
    {"", "If", op_if},
    {"", "Loop", op_loop},
    {"", "Scan", op_scan},
    {"", "SequenceMap", op_sequence_map},
    {0},
};
