/* layout.c - operators that rearrange elements: Transpose, Concat, Split, Slice,
 * Tile, Pad, DepthToSpace, SpaceToDepth, Trilu, ReverseSequence, Unique.
 * Most are one strided view copy (shape_common.h), which merges contiguous dims
 * so that the inner loop is a memcpy whenever the layout allows. */
#include "shape_common.h"
#include "hot.h"

#include <stdlib.h>

/* A transpose of 4-byte elements that is a batch of 2-D transposes,
 * y[b][i][j] = x[b][j][i] (NCHW <-> NHWC: rows = C and cols = H W, or the
 * reverse), in square tiles so that both sides stay within a few cache lines;
 * batches x row tiles are spread over the threads. */
#define TR_TILE 16
#define TR_SHORT_TILE 4096 /* rows of y per task when they are at most 4 long */
#define TR_SHORT_PARALLEL_MIN ((int64_t)1 << 16)

typedef struct tr2d_job {
    const uint32_t *x;
    uint32_t *y;
    int64_t rows, cols, row_tiles; /* of y */
} tr2d_job;

/* Rows [i0, i1) of a transpose to very short rows (an RGB image to NHWC:
 * cols = 3), with the row length a constant so the compiler interleaves
 * whole vectors instead of looping over 3 elements. */
static inline void tr2d_short_rows(const uint32_t *x, uint32_t *y, int64_t rows, int64_t i0, int64_t i1,
                                   const int cols)
{
    for (int64_t i = i0; i < i1; i++)
        for (int c = 0; c < cols; c++) y[i * cols + c] = x[c * rows + i];
}

static void tr2d_range(void *arg, int64_t begin, int64_t end)
{
    const tr2d_job *j = arg;
    if (j->cols <= 4) {
        for (int64_t t = begin; t < end; t++) {
            const int64_t b = t / j->row_tiles, i0 = t % j->row_tiles * TR_SHORT_TILE;
            const int64_t i1 = i0 + TR_SHORT_TILE < j->rows ? i0 + TR_SHORT_TILE : j->rows;
            const uint32_t *x = j->x + b * j->rows * j->cols;
            uint32_t *y = j->y + b * j->rows * j->cols;
            switch (j->cols) {
            case 1: tr2d_short_rows(x, y, j->rows, i0, i1, 1); break;
            case 2: tr2d_short_rows(x, y, j->rows, i0, i1, 2); break;
            case 3: tr2d_short_rows(x, y, j->rows, i0, i1, 3); break;
            default: tr2d_short_rows(x, y, j->rows, i0, i1, 4); break;
            }
        }
        return;
    }
    for (int64_t t = begin; t < end; t++) {
        const int64_t b = t / j->row_tiles, i0 = t % j->row_tiles * TR_TILE;
        const int64_t i1 = i0 + TR_TILE < j->rows ? i0 + TR_TILE : j->rows;
        const uint32_t *x = j->x + b * j->rows * j->cols;
        uint32_t *y = j->y + b * j->rows * j->cols;
        for (int64_t j0 = 0; j0 < j->cols; j0 += TR_TILE) {
            const int64_t j1 = j0 + TR_TILE < j->cols ? j0 + TR_TILE : j->cols;
            for (int64_t i = i0; i < i1; i++)
                for (int64_t c = j0; c < j1; c++) y[i * j->cols + c] = x[c * j->rows + i];
        }
    }
}

/* True when it handled the transpose: the perm, with size-1 dims dropped and
 * neighbours merged, is [batch,] (A, B) -> (B, A). */
static bool transpose_2d(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y, const int *perm)
{
    if (onyx_dtype_size(x->dtype) != 4 || x->dtype == ONYX_STRING) return false;
    /* the input axes in output order, without size-1 axes */
    int order[ONYX_MAX_RANK], n = 0;
    for (int d = 0; d < x->rank; d++)
        if (x->dims[perm[d]] != 1) order[n++] = perm[d];
    /* runs of input axes that stay neighbours in the output: [batch,] R1, R2
     * where the input has them as [batch,] R2, R1 */
    int start[ONYX_MAX_RANK + 1], runs = 0;
    for (int d = 0; d < n; d++)
        if (d == 0 || order[d] != order[d - 1] + 1) start[runs++] = d;
    start[runs] = n;
    if (runs != 2 && runs != 3) return false;
    const int b0 = runs == 3; /* index of R1 */
    int seq[ONYX_MAX_RANK], m = 0;
    for (int r = 0; r < runs; r++) {
        const int pick = r < b0 ? r : r == b0 ? b0 + 1 : b0; /* batch, R2, R1 */
        for (int d = start[pick]; d < start[pick + 1]; d++) seq[m++] = order[d];
    }
    for (int d = 1; d < m; d++)
        if (seq[d] <= seq[d - 1]) return false;
    int64_t size[3] = {1, 1, 1};
    for (int r = 0; r < runs; r++)
        for (int d = start[r]; d < start[r + 1]; d++) size[r + (runs == 2)] *= x->dims[order[d]];
    /* y is [batch][size1][size2] read from x as [batch][size2][size1] */
    const int64_t tile = size[2] <= 4 ? TR_SHORT_TILE : TR_TILE;
    tr2d_job j = {x->data, y->data, size[1], size[2], (size[1] + tile - 1) / tile};
    const int64_t tasks = size[0] * j.row_tiles;
    if (size[0] * size[1] * size[2] < (size[2] <= 4 ? TR_SHORT_PARALLEL_MIN : HOT_PARALLEL_MIN))
        tr2d_range(&j, 0, tasks);
    else k_parallel_for(k, tasks, tr2d_range, &j);
    return true;
}

/* Any other transpose of a large tensor: the output's leading dims are cut
 * into enough slabs for every thread (attention's [S,3,H,D] -> [3,H,S,D] is
 * 18 slabs of S x D), each one strided view copy. */
typedef struct tr_slab_job {
    const onyx_tensor *x;
    onyx_tensor *y;
    int r, lead;           /* output dims [0, lead) index the slabs */
    int64_t slab;          /* elements per slab */
    const int64_t *dims, *sstr, *dstr;
} tr_slab_job;

static void tr_slab_range(void *arg, int64_t begin, int64_t end)
{
    const tr_slab_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        int64_t soff = 0, rest = t;
        for (int d = j->lead - 1; d >= 0; d--) {
            soff += rest % j->dims[d] * j->sstr[d];
            rest /= j->dims[d];
        }
        shp_view_copy(j->y, t * j->slab, j->dstr + j->lead, j->x, soff, j->sstr + j->lead,
                      j->r - j->lead, j->dims + j->lead);
    }
}

static bool transpose_slabs(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y, const int64_t *dims,
                            const int64_t *sstr)
{
    const int r = x->rank;
    if (x->dtype == ONYX_STRING || shp_numel(y) < HOT_PARALLEL_MIN || k_num_threads(k) < 2 || r < 2)
        return false;
    int64_t dstr[ONYX_MAX_RANK], tasks = 1;
    shp_dense_strides(r, dims, dstr);
    int lead = 0;
    while (lead < r - 1 && tasks < 8 * k_num_threads(k)) tasks *= dims[lead++];
    tr_slab_job j = {x, y, r, lead, dstr[lead - 1], dims, sstr, dstr};
    k_parallel_for(k, tasks, tr_slab_range, &j);
    return true;
}

static onyx_status op_transpose(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int r = x->rank;
    int perm[ONYX_MAX_RANK];
    const int64_t *p;
    int n = k_attr_ints(k, "perm", &p);
    if (n >= 0 && n != r)
        return k_fail(k, ONYX_E_INVALID, "attribute 'perm' has %d entries for rank %d", n, r);
    bool seen[ONYX_MAX_RANK] = {false};
    for (int d = 0; d < r; d++) {
        int64_t v = n >= 0 ? p[d] : r - 1 - d;
        if (v < 0 || v >= r || seen[v])
            return k_fail(k, ONYX_E_INVALID, "attribute 'perm' is not a permutation of 0..%d",
                          r - 1);
        seen[v] = true;
        perm[d] = (int)v;
    }
    int64_t xstr[ONYX_MAX_RANK], dims[ONYX_MAX_RANK], sstr[ONYX_MAX_RANK];
    shp_dense_strides(r, x->dims, xstr);
    for (int d = 0; d < r; d++) {
        dims[d] = x->dims[perm[d]];
        sstr[d] = xstr[perm[d]];
    }
    /* the copy below writes every element */
    onyx_tensor *y = x->dtype == ONYX_STRING ? k_output(k, 0, x->dtype, r, dims)
                                             : k_output_uninit(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    if (shp_numel(y) > 0 && (transpose_2d(k, x, y, perm) || transpose_slabs(k, x, y, dims, sstr)))
        return ONYX_OK;
    if (!shp_gather_view(y, x, 0, sstr, r, dims)) return shp_nomem(k);
    return ONYX_OK;
}

/* Concat of plain (non-string) elements: one memcpy per (outer index, input),
 * the pairs spread over the threads (the NHWC channel concat has many short
 * runs, the NCHW one a few long ones). */
typedef struct concat_job {
    const onyx_kctx *k;
    char *y;
    size_t es;
    int64_t inner, ydim;
    const int64_t *first; /* input i starts at first[i] along the axis (n + 1 entries) */
} concat_job;

static void concat_range(void *arg, int64_t begin, int64_t end)
{
    const concat_job *j = arg;
    const int n = j->k->n_inputs;
    for (int64_t t = begin; t < end; t++) {
        const int64_t b = t / n;
        const int i = (int)(t % n);
        const int64_t len = (j->first[i + 1] - j->first[i]) * j->inner;
        memcpy(j->y + (size_t)((b * j->ydim + j->first[i]) * j->inner) * j->es,
               (const char *)j->k->inputs[i]->data + (size_t)(b * len) * j->es, (size_t)len * j->es);
    }
}

static onyx_status op_concat(onyx_kctx *k)
{
    if (k->n_inputs < 1) return k_fail(k, ONYX_E_INVALID, "Concat needs at least one input");
    const onyx_tensor *x0 = shp_tensor_in(k, 0);
    if (!x0) return k->err->code;
    int r = x0->rank, axis;
    if (r < 1) return k_fail(k, ONYX_E_SHAPE, "cannot concatenate scalars");
    const onyx_attr *aa = k_attr(k, "axis");
    if (!aa && k->opset >= 4) return k_fail(k, ONYX_E_INVALID, "attribute 'axis' is required");
    int64_t a = k_attr_int(k, "axis", 1);
    if (!k_axis(a, r, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range for rank %d",
                      (long long)a, r);
    int64_t dims[ONYX_MAX_RANK];
    memcpy(dims, x0->dims, (size_t)r * sizeof dims[0]);
    dims[axis] = 0;
    for (int i = 0; i < k->n_inputs; i++) {
        const onyx_tensor *x = shp_tensor_in(k, i);
        if (!x) return k->err->code;
        if (x->dtype != x0->dtype)
            return k_fail(k, ONYX_E_INVALID, "input %d is %s but input 0 is %s", i,
                          onyx_dtype_name(x->dtype), onyx_dtype_name(x0->dtype));
        if (x->rank != r)
            return k_fail(k, ONYX_E_SHAPE, "input %d has rank %d but input 0 has rank %d", i,
                          x->rank, r);
        for (int d = 0; d < r; d++)
            if (d != axis && x->dims[d] != x0->dims[d])
                return k_fail(k, ONYX_E_SHAPE, "input %d dim %d is %lld but input 0 has %lld",
                              i, d, (long long)x->dims[d], (long long)x0->dims[d]);
        if (x->dims[axis] > INT64_MAX - dims[axis])
            return k_fail(k, ONYX_E_LIMIT, "concatenated dim too large");
        dims[axis] += x->dims[axis];
    }
    const bool plain = x0->dtype != ONYX_STRING;
    onyx_tensor *y = plain ? k_output_uninit(k, 0, x0->dtype, r, dims) : k_output(k, 0, x0->dtype, r, dims);
    if (!y) return k->err->code;
    int64_t outer = tensor_numel_of(axis, dims);
    int64_t inner = tensor_numel_of(r - axis - 1, dims + axis + 1);
    if (plain) {
        int64_t *first = malloc(((size_t)k->n_inputs + 1) * sizeof *first);
        if (!first) return shp_nomem(k);
        first[0] = 0;
        for (int i = 0; i < k->n_inputs; i++) first[i + 1] = first[i] + k_input(k, i)->dims[axis];
        concat_job j = {k, y->data, onyx_dtype_size(x0->dtype), inner, dims[axis], first};
        const int64_t tasks = outer * k->n_inputs;
        if (shp_numel(y) < HOT_PARALLEL_MIN) concat_range(&j, 0, tasks);
        else k_parallel_for(k, tasks, concat_range, &j);
        free(first);
        return ONYX_OK;
    }
    int64_t yo = 0;
    for (int64_t b = 0; b < outer; b++)
        for (int i = 0; i < k->n_inputs; i++) {
            const onyx_tensor *x = k_input(k, i);
            int64_t run = x->dims[axis] * inner;
            if (!shp_copy(y, yo, x, b * run, run)) return shp_nomem(k);
            yo += run;
        }
    return ONYX_OK;
}

static onyx_status op_split(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int axis;
    int64_t a = k_attr_int(k, "axis", 0);
    if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "cannot split a scalar");
    if (!k_axis(a, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range for rank %d",
                      (long long)a, x->rank);
    int no = k->n_outputs;
    if (no < 1) return k_fail(k, ONYX_E_INVALID, "Split has no outputs");
    int64_t *split = malloc((size_t)no * sizeof *split);
    if (!split) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    int64_t dim = x->dims[axis];
    onyx_status st = ONYX_OK;
    const int64_t *sa;
    int ns = -1;
    /* sizes come from input 1 in Split-1 and from opset 13, else the attribute */
    const onyx_tensor *si = k->opset >= 13 || k->opset < 2 ? k_input(k, 1) : NULL;
    /* an empty split input means "not given", as ONNX Runtime reads it */
    if (si && si->kind == ONYX_KIND_TENSOR && shp_numel(si) == 0) si = NULL;
    if (si) {
        if (!dtype_is_int(si->dtype) || si->kind != ONYX_KIND_TENSOR || si->rank > 1) {
            st = k_fail(k, ONYX_E_INVALID, "input 1 (split) must be a 1-D integer tensor");
            goto out;
        }
        int64_t n = shp_numel(si);
        if (n != no) {
            st = k_fail(k, ONYX_E_INVALID, "split has %lld entries for %d outputs", (long long)n,
                        no);
            goto out;
        }
        ns = (int)k_read_ints(si, split, no);
    } else if (k->opset < 13 && (ns = k_attr_ints(k, "split", &sa)) >= 0) {
        if (ns != no) {
            st = k_fail(k, ONYX_E_INVALID, "attribute 'split' has %d entries for %d outputs", ns,
                        no);
            goto out;
        }
        memcpy(split, sa, (size_t)no * sizeof *split);
    }
    if (ns >= 0) {
        int64_t sum = 0;
        for (int i = 0; i < no; i++) {
            if (split[i] < 0 || split[i] > dim - sum) {
                st = k_fail(k, ONYX_E_SHAPE, "split sizes do not add up to dim %d (%lld)", axis,
                            (long long)dim);
                goto out;
            }
            sum += split[i];
        }
        if (sum != dim) {
            st = k_fail(k, ONYX_E_SHAPE, "split sizes add up to %lld, dim %d is %lld",
                        (long long)sum, axis, (long long)dim);
            goto out;
        }
    } else {
        int64_t nout = k_attr_int(k, "num_outputs", no);
        if (nout != no) {
            st = k_fail(k, ONYX_E_INVALID, "attribute 'num_outputs' = %lld but the node has %d",
                        (long long)nout, no);
            goto out;
        }
        /* equal parts; when uneven the last one is smaller (opset 18) */
        int64_t chunk = dim / no + (dim % no != 0);
        for (int i = 0; i < no; i++) {
            int64_t left = dim - chunk * i;
            split[i] = left < 0 ? 0 : left < chunk ? left : chunk;
        }
    }
    int64_t outer = tensor_numel_of(axis, x->dims);
    int64_t inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    int64_t start = 0;
    for (int i = 0; i < no; i++) {
        int64_t dims[ONYX_MAX_RANK];
        memcpy(dims, x->dims, (size_t)x->rank * sizeof dims[0]);
        dims[axis] = split[i];
        onyx_tensor *y = k_output(k, i, x->dtype, x->rank, dims);
        if (!y) {
            st = k->err->code;
            goto out;
        }
        int64_t run = split[i] * inner;
        if (k_output_wanted(k, i))
            for (int64_t b = 0; b < outer; b++)
                if (!shp_copy(y, b * run, x, (b * dim + start) * inner, run)) {
                    st = shp_nomem(k);
                    goto out;
                }
        start += split[i];
    }
out:
    free(split);
    return st;
}

/* Slice parameters: starts/ends/axes/steps from attributes (opset < 10) or inputs. */
static int slice_list(onyx_kctx *k, int input, const char *name, int64_t *out)
{
    if (k->opset < 10) {
        const int64_t *a;
        int n = k_attr_ints(k, name, &a);
        if (n > ONYX_MAX_RANK) {
            k_fail(k, ONYX_E_LIMIT, "attribute '%s' has %d entries (limit %d)", name, n,
                   ONYX_MAX_RANK);
            return -1;
        }
        if (n > 0) memcpy(out, a, (size_t)n * sizeof *a);
        return n < 0 ? -2 : n;
    }
    if (!k_input(k, input)) return -2;
    return shp_int_list_in(k, input, name, out, ONYX_MAX_RANK);
}

static onyx_status op_slice(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int r = x->rank;
    int64_t starts[ONYX_MAX_RANK], ends[ONYX_MAX_RANK], axes[ONYX_MAX_RANK],
        steps[ONYX_MAX_RANK];
    int ns = slice_list(k, 1, "starts", starts), ne = slice_list(k, 2, "ends", ends);
    if (ns == -1 || ne == -1) return k->err->code;
    if (ns < 0 || ne < 0) return k_fail(k, ONYX_E_INVALID, "starts and ends are required");
    if (ns != ne)
        return k_fail(k, ONYX_E_INVALID, "starts has %d entries, ends has %d", ns, ne);
    int na = slice_list(k, 3, "axes", axes);
    int nst = k->opset >= 10 ? slice_list(k, 4, "steps", steps) : -2;
    if (na == -1 || nst == -1) return k->err->code;
    if (na >= 0 && na != ns)
        return k_fail(k, ONYX_E_INVALID, "axes has %d entries, starts has %d", na, ns);
    if (nst >= 0 && nst != ns)
        return k_fail(k, ONYX_E_INVALID, "steps has %d entries, starts has %d", nst, ns);
    int64_t lo[ONYX_MAX_RANK], step[ONYX_MAX_RANK], dims[ONYX_MAX_RANK];
    bool seen[ONYX_MAX_RANK] = {false};
    for (int d = 0; d < r; d++) {
        lo[d] = 0;
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (int i = 0; i < ns; i++) {
        int ax;
        int64_t av = na >= 0 ? axes[i] : i;
        if (!k_axis(av, r, &ax))
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld out of range for rank %d", i,
                          (long long)av, r);
        if (seen[ax]) return k_fail(k, ONYX_E_INVALID, "axis %d appears twice in axes", ax);
        seen[ax] = true;
        int64_t st = nst >= 0 ? steps[i] : 1, n = x->dims[ax];
        if (st == 0) return k_fail(k, ONYX_E_INVALID, "steps[%d] is 0", i);
        int64_t s = starts[i], e = ends[i];
        if (s < 0) s += n;
        if (e < 0) e += n;
        /* the spec's clamping: [0, n] going forward, [0, n-1] / [-1, n-1] going back */
        if (st > 0) {
            s = s < 0 ? 0 : s > n ? n : s;
            e = e < 0 ? 0 : e > n ? n : e;
        } else {
            s = s < 0 ? 0 : s > n - 1 ? n - 1 : s;
            e = e < -1 ? -1 : e > n - 1 ? n - 1 : e;
        }
        int64_t len = 0;
        if (st > 0 && e > s) len = (e - s - 1) / st + 1;
        if (st < 0 && s > e) len = (s - e - 1) / (st == INT64_MIN ? INT64_MAX : -st) + 1;
        lo[ax] = s;
        step[ax] = len > 1 ? st : 1; /* a huge step over one element must not overflow */
        dims[ax] = len;
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    if (shp_numel(y) == 0) return ONYX_OK;
    int64_t xstr[ONYX_MAX_RANK], sstr[ONYX_MAX_RANK], off = 0;
    shp_dense_strides(r, x->dims, xstr);
    for (int d = 0; d < r; d++) {
        off += lo[d] * xstr[d];
        sstr[d] = step[d] * xstr[d];
    }
    if (!shp_gather_view(y, x, off, sstr, r, dims)) return shp_nomem(k);
    return ONYX_OK;
}

static onyx_status op_tile(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int r = x->rank;
    int64_t rep[ONYX_MAX_RANK];
    if (k->opset < 6) {
        /* Tile-1: scalar 'tiles' repeats along scalar 'axis' */
        int64_t t, a;
        int axis;
        if (shp_int_list_in(k, 1, "tiles", &t, 1) != 1 || shp_int_list_in(k, 2, "axis", &a, 1) != 1)
            return k->err->code ? k->err->code
                                : k_fail(k, ONYX_E_INVALID, "tiles and axis must be scalars");
        if (!k_axis(a, r, &axis))
            return k_fail(k, ONYX_E_INVALID, "axis %lld out of range for rank %d", (long long)a,
                          r);
        for (int d = 0; d < r; d++) rep[d] = d == axis ? t : 1;
    } else {
        int n = shp_int_list_in(k, 1, "repeats", rep, ONYX_MAX_RANK);
        if (n < 0) return k->err->code;
        if (n != r)
            return k_fail(k, ONYX_E_SHAPE, "repeats has %d entries for rank %d", n, r);
    }
    /* The output viewed as (rep0, d0, rep1, d1, ...) is the input broadcast along
     * the rep dims. */
    int64_t dims[ONYX_MAX_RANK], vdims[SHP_MAX_DIMS], vstr[SHP_MAX_DIMS], xstr[ONYX_MAX_RANK];
    shp_dense_strides(r, x->dims, xstr);
    for (int d = 0; d < r; d++) {
        if (rep[d] < 0)
            return k_fail(k, ONYX_E_INVALID, "repeats[%d] = %lld is negative", d,
                          (long long)rep[d]);
        if (x->dims[d] != 0 && rep[d] > INT64_MAX / x->dims[d])
            return k_fail(k, ONYX_E_LIMIT, "tiled dim %d too large", d);
        dims[d] = x->dims[d] * rep[d];
        vdims[2 * d] = rep[d];
        vdims[2 * d + 1] = x->dims[d];
        vstr[2 * d] = 0;
        vstr[2 * d + 1] = xstr[d];
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    if (!shp_gather_view(y, x, 0, vstr, 2 * r, vdims)) return shp_nomem(k);
    return ONYX_OK;
}

enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

/* Source position (within a kept extent of n) for an outside position i. */
static int64_t pad_source(enum pad_mode mode, int64_t i, int64_t n)
{
    switch (mode) {
    case PAD_EDGE: return i < 0 ? 0 : n - 1;
    case PAD_WRAP: return ((i % n) + n) % n;
    default: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1), m = ((i % period) + period) % period;
        return m < n ? m : period - m;
    }
    }
}

/* Pad of a float32 tensor on two neighbouring axes at most, seen as
 * [outer, H, W, inner] (non-negative pads on H and W only): NCHW images padded
 * on H, W have inner = 1, NHWC ones padded on H, W have inner = C. Each output
 * row is written once, border, copy, border, with no fill pass first; rows are
 * spread over the threads. */
typedef struct pad2d_job {
    const float *x;
    float *y;
    int64_t H, W, OH, OW, top, left, inner;
    enum pad_mode mode;
    float value;
} pad2d_job;

/* one border pixel: inner floats of the constant, or of source pixel src */
static void pad_pixel(const pad2d_job *j, float *dst, const float *xr, int64_t ox)
{
    if (j->mode == PAD_CONSTANT) {
        for (int64_t c = 0; c < j->inner; c++) dst[c] = j->value;
        return;
    }
    const int64_t src = pad_source(j->mode, ox - j->left, j->W);
    memcpy(dst, xr + src * j->inner, (size_t)j->inner * sizeof *dst);
}

static void pad2d_range(void *arg, int64_t begin, int64_t end)
{
    const pad2d_job *j = arg;
    const int64_t in_row = j->W * j->inner, out_row = j->OW * j->inner;
    for (int64_t t = begin; t < end; t++) {
        const int64_t pl = t / j->OH, oy = t % j->OH;
        float *yr = j->y + t * out_row;
        int64_t iy = oy - j->top;
        if (iy < 0 || iy >= j->H) {
            if (j->mode == PAD_CONSTANT) {
                for (int64_t i = 0; i < out_row; i++) yr[i] = j->value;
                continue;
            }
            iy = pad_source(j->mode, iy, j->H);
        }
        const float *xr = j->x + (pl * j->H + iy) * in_row;
        for (int64_t ox = 0; ox < j->left; ox++) pad_pixel(j, yr + ox * j->inner, xr, ox);
        memcpy(yr + j->left * j->inner, xr, (size_t)in_row * sizeof *yr);
        for (int64_t ox = j->left + j->W; ox < j->OW; ox++) pad_pixel(j, yr + ox * j->inner, xr, ox);
    }
}

/* The rows of a pad2d job, threaded when the output is large. */
static void pad2d_run(const onyx_kctx *k, pad2d_job *j, int64_t rows)
{
    if (rows * j->OW * j->inner < HOT_PARALLEL_MIN) pad2d_range(j, 0, rows);
    else k_parallel_for(k, rows, pad2d_range, j);
}

void shp_pad_planes_f32(const onyx_kctx *k, const float *x, float *y, int64_t planes, int64_t H, int64_t W,
                        int64_t top, int64_t left, int64_t OH, int64_t OW, float value)
{
    pad2d_job j = {x, y, H, W, OH, OW, top, left, 1, PAD_CONSTANT, value};
    pad2d_run(k, &j, planes * OH);
}

/* The [outer, H, W, inner] view when only axes a and a + 1 have (non-negative)
 * pads; false when the pads do not have that form. */
static bool pad2d_view(const onyx_tensor *x, const int64_t *pb, const int64_t *pe, pad2d_job *j,
                       int64_t *outer)
{
    const int r = x->rank;
    int first = -1, last = -1;
    for (int d = 0; d < r; d++) {
        if (pb[d] < 0 || pe[d] < 0) return false;
        if (pb[d] || pe[d]) {
            if (first < 0) first = d;
            last = d;
        }
    }
    if (r < 2 || first < 0 || last - first > 1) return false;
    const int a = first < r - 1 ? first : r - 2; /* H is axis a, W is axis a + 1 */
    *outer = tensor_numel_of(a, x->dims);
    j->H = x->dims[a];
    j->W = x->dims[a + 1];
    j->inner = tensor_numel_of(r - a - 2, x->dims + a + 2);
    j->top = pb[a];
    j->left = pb[a + 1];
    j->OH = j->H + pb[a] + pe[a];
    j->OW = j->W + pb[a + 1] + pe[a + 1];
    return j->H > 0 && j->W > 0 && j->inner > 0;
}

static onyx_status op_pad(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int r = x->rank;
    const char *ms = k_attr_string(k, "mode", "constant");
    enum pad_mode mode;
    if (strcmp(ms, "constant") == 0) mode = PAD_CONSTANT;
    else if (strcmp(ms, "reflect") == 0) mode = PAD_REFLECT;
    else if (strcmp(ms, "edge") == 0) mode = PAD_EDGE;
    else if (strcmp(ms, "wrap") == 0) mode = PAD_WRAP;
    else return k_fail(k, ONYX_E_INVALID, "attribute 'mode' = '%s' is not supported", ms);

    int64_t raw[SHP_MAX_DIMS], axes[ONYX_MAX_RANK];
    int np, na = r;
    for (int d = 0; d < r; d++) axes[d] = d;
    /* the constant as a one-element tensor of x's dtype */
    onyx_tensor cval;
    memset(&cval, 0, sizeof cval);
    uint64_t cbuf[2] = {0, 0};
    const char *empty = "";
    cval.kind = ONYX_KIND_TENSOR;
    cval.dtype = x->dtype;
    cval.data = x->dtype == ONYX_STRING ? (void *)&empty : (void *)cbuf;
    const onyx_tensor *cv = &cval;
    if (k->opset < 11) {
        const int64_t *p;
        np = k_attr_ints(k, k->opset < 2 ? "paddings" : "pads", &p);
        if (np < 0) return k_fail(k, ONYX_E_INVALID, "attribute 'pads' is required");
        if (np > SHP_MAX_DIMS)
            return k_fail(k, ONYX_E_LIMIT, "attribute 'pads' has %d entries", np);
        memcpy(raw, p, (size_t)np * sizeof *p);
        if (x->dtype != ONYX_STRING) k_set_f64(&cval, 0, k_attr_float(k, "value", 0));
    } else {
        np = shp_int_list_in(k, 1, "pads", raw, SHP_MAX_DIMS);
        if (np < 0) return k->err->code;
        const onyx_tensor *c = k_input(k, 2);
        if (c) {
            if (c->kind != ONYX_KIND_TENSOR || c->dtype != x->dtype || shp_numel(c) > 1)
                return k_fail(k, ONYX_E_INVALID,
                              "input 2 (constant_value) must be a scalar of the data's type %s",
                              onyx_dtype_name(x->dtype));
            if (shp_numel(c) == 1) cv = c;
        }
        if (k_input(k, 3)) {
            na = shp_int_list_in(k, 3, "axes", axes, ONYX_MAX_RANK);
            if (na < 0) return k->err->code;
        }
    }
    if (np != 2 * na)
        return k_fail(k, ONYX_E_INVALID, "pads has %d entries, expected %d", np, 2 * na);
    int64_t pb[ONYX_MAX_RANK] = {0}, pe[ONYX_MAX_RANK] = {0};
    bool seen[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int ax;
        if (!k_axis(axes[i], r, &ax))
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld out of range for rank %d", i,
                          (long long)axes[i], r);
        if (seen[ax]) return k_fail(k, ONYX_E_INVALID, "axis %d appears twice in axes", ax);
        seen[ax] = true;
        pb[ax] = raw[i];
        pe[ax] = raw[i + na];
    }
    /* Negative pads crop first; the positive ones then pad the cropped block, so
     * reflect/edge/wrap read from what is kept (as ONNX's reference does). */
    int64_t dims[ONYX_MAX_RANK], keep[ONYX_MAX_RANK], crop[ONYX_MAX_RANK], at[ONYX_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int64_t n = x->dims[d], b = pb[d], e = pe[d];
        if (b < -n || e < -n || b + e < -n || b > ONYX_MAX_TENSOR_BYTES ||
            e > ONYX_MAX_TENSOR_BYTES)
            return k_fail(k, ONYX_E_SHAPE, "pads %lld, %lld do not fit dim %d of size %lld",
                          (long long)b, (long long)e, d, (long long)n);
        crop[d] = b < 0 ? -b : 0;
        keep[d] = n + (b < 0 ? b : 0) + (e < 0 ? e : 0);
        at[d] = b > 0 ? b : 0;
        dims[d] = keep[d] + at[d] + (e > 0 ? e : 0);
        if (mode != PAD_CONSTANT && keep[d] == 0 && dims[d] > 0)
            return k_fail(k, ONYX_E_SHAPE, "%s padding of empty dim %d", ms, d);
    }
    /* every path below writes every element: the constant fill, the copy
     * and the borders, or the rows of pad2d */
    onyx_tensor *y = x->dtype == ONYX_STRING ? k_output(k, 0, x->dtype, r, dims)
                                             : k_output_uninit(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    if (shp_numel(y) == 0) return ONYX_OK;
    pad2d_job pj = {.x = x->data, .y = y->data, .mode = mode};
    int64_t outer;
    if (x->dtype == ONYX_FLOAT && mode != PAD_WRAP && pad2d_view(x, pb, pe, &pj, &outer)) {
        pj.value = *(const float *)cv->data;
        pad2d_run(k, &pj, outer * pj.OH);
        return ONYX_OK;
    }
    if (mode == PAD_CONSTANT && !shp_fill(y, shp_numel(y), cv, 0)) return shp_nomem(k);
    int64_t xstr[ONYX_MAX_RANK], ystr[ONYX_MAX_RANK], xoff = 0, yoff = 0;
    shp_dense_strides(r, x->dims, xstr);
    shp_dense_strides(r, dims, ystr);
    for (int d = 0; d < r; d++) {
        xoff += crop[d] * xstr[d];
        yoff += at[d] * ystr[d];
    }
    if (!shp_view_copy(y, yoff, ystr, x, xoff, xstr, r, keep)) return shp_nomem(k);
    if (mode == PAD_CONSTANT) return ONYX_OK;
    /* Fill the borders axis by axis from the output itself: after axis d, the
     * filled block spans all of axes <= d and the kept part of axes > d. */
    int64_t slab[ONYX_MAX_RANK];
    for (int d = 0; d < r; d++) {
        int64_t base = 0;
        for (int j = 0; j < r; j++) {
            slab[j] = j < d ? dims[j] : j == d ? 1 : keep[j];
            if (j > d) base += at[j] * ystr[j];
        }
        for (int64_t o = 0; o < dims[d]; o++) {
            int64_t i = o - at[d];
            if (i >= 0 && i < keep[d]) continue;
            int64_t src = at[d] + pad_source(mode, i, keep[d]);
            if (!shp_view_copy(y, base + o * ystr[d], ystr, y, base + src * ystr[d], ystr, r,
                               slab))
                return shp_nomem(k);
        }
    }
    return ONYX_OK;
}

/* Input 0 of DepthToSpace/SpaceToDepth: 4-D with a positive blocksize. */
static const onyx_tensor *block_input(onyx_kctx *k, int64_t *bs)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return NULL;
    if (x->rank != 4) {
        k_fail(k, ONYX_E_SHAPE, "input must be 4-D (N, C, H, W), has rank %d", x->rank);
        return NULL;
    }
    *bs = k_attr_int(k, "blocksize", 0);
    if (*bs < 1 || *bs > (int64_t)1 << 20) {
        k_fail(k, ONYX_E_INVALID, "attribute 'blocksize' = %lld must be positive",
               (long long)*bs);
        return NULL;
    }
    return x;
}

static onyx_status op_depth_to_space(onyx_kctx *k)
{
    int64_t b;
    const onyx_tensor *x = block_input(k, &b);
    if (!x) return k->err->code;
    const char *mode = k_attr_string(k, "mode", "DCR");
    bool crd = strcmp(mode, "CRD") == 0;
    if (!crd && strcmp(mode, "DCR") != 0)
        return k_fail(k, ONYX_E_INVALID, "attribute 'mode' = '%s' (expected DCR or CRD)", mode);
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (C % (b * b) != 0)
        return k_fail(k, ONYX_E_SHAPE, "channels %lld not divisible by blocksize^2 = %lld",
                      (long long)C, (long long)(b * b));
    int64_t c = C / (b * b), hw = H * W;
    int64_t dims[4] = {N, c, H * b, W * b};
    onyx_tensor *y = k_output(k, 0, x->dtype, 4, dims);
    if (!y) return k->err->code;
    /* output as (N, c, H, b1, W, b2); input channel = DCR: (b1, b2, c), CRD: (c, b1, b2) */
    int64_t vdims[6] = {N, c, H, b, W, b};
    int64_t s_c = crd ? b * b * hw : hw, s_b1 = crd ? b * hw : b * c * hw,
            s_b2 = crd ? hw : c * hw;
    int64_t vstr[6] = {C * hw, s_c, W, s_b1, 1, s_b2};
    if (!shp_gather_view(y, x, 0, vstr, 6, vdims)) return shp_nomem(k);
    return ONYX_OK;
}

static onyx_status op_space_to_depth(onyx_kctx *k)
{
    int64_t b;
    const onyx_tensor *x = block_input(k, &b);
    if (!x) return k->err->code;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (H % b != 0 || W % b != 0)
        return k_fail(k, ONYX_E_SHAPE, "spatial dims %lldx%lld not divisible by blocksize %lld",
                      (long long)H, (long long)W, (long long)b);
    int64_t dims[4] = {N, C * b * b, H / b, W / b};
    onyx_tensor *y = k_output(k, 0, x->dtype, 4, dims);
    if (!y) return k->err->code;
    /* output channel = (b1, b2, C); input (N, C, H/b, b1, W/b, b2) */
    int64_t vdims[6] = {N, b, b, C, H / b, W / b};
    int64_t vstr[6] = {C * H * W, W, 1, H * W, b * W, b};
    if (!shp_gather_view(y, x, 0, vstr, 6, vdims)) return shp_nomem(k);
    return ONYX_OK;
}

static onyx_status op_trilu(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    if (x->rank < 2)
        return k_fail(k, ONYX_E_SHAPE, "input must have rank >= 2, has %d", x->rank);
    int64_t diag = 0;
    if (k_input(k, 1) && shp_int_list_in(k, 1, "k", &diag, 1) != 1)
        return k->err->code ? k->err->code : k_fail(k, ONYX_E_INVALID, "k must be a scalar");
    bool upper = k_attr_int(k, "upper", 1) != 0;
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    int64_t H = x->dims[x->rank - 2], W = x->dims[x->rank - 1];
    int64_t mats = tensor_numel_of(x->rank - 2, x->dims);
    /* keep j - i >= k (upper) or j - i <= k (lower); clamp so i + k cannot overflow */
    if (diag > W) diag = W + 1;
    if (diag < -H) diag = -H - 1;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < H; i++) {
            int64_t lo = upper ? i + diag : 0, hi = upper ? W : i + diag + 1;
            if (lo < 0) lo = 0;
            if (hi > W) hi = W;
            int64_t row = (m * H + i) * W;
            if (hi > lo && !shp_copy(y, row + lo, x, row + lo, hi - lo)) return shp_nomem(k);
        }
    return ONYX_OK;
}

static onyx_status op_reverse_sequence(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *sl = x ? shp_tensor_in(k, 1) : NULL;
    if (!sl) return k->err->code;
    if (x->rank < 2) return k_fail(k, ONYX_E_SHAPE, "input must have rank >= 2");
    int64_t ba = k_attr_int(k, "batch_axis", 1), ta = k_attr_int(k, "time_axis", 0);
    if ((ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta)
        return k_fail(k, ONYX_E_INVALID, "batch_axis %lld and time_axis %lld must be 0 and 1",
                      (long long)ba, (long long)ta);
    int64_t B = x->dims[ba], T = x->dims[ta];
    if (sl->dtype != ONYX_INT64 && sl->dtype != ONYX_INT32)
        return k_fail(k, ONYX_E_INVALID, "sequence_lens must be int64");
    if (sl->rank != 1 || sl->dims[0] != B)
        return k_fail(k, ONYX_E_SHAPE, "sequence_lens must be 1-D of the batch size %lld",
                      (long long)B);
    for (int64_t b = 0; b < B; b++) {
        int64_t len = shp_index_at(sl, b);
        if (len < 0 || len > T)
            return k_fail(k, ONYX_E_INVALID, "sequence_lens[%lld] = %lld out of range [0, %lld]",
                          (long long)b, (long long)len, (long long)T);
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    int64_t inner = tensor_numel_of(x->rank - 2, x->dims + 2);
    int64_t st = ta == 0 ? B * inner : inner, sb = ba == 0 ? T * inner : inner;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = shp_index_at(sl, b);
        for (int64_t t = 0; t < T; t++) {
            int64_t src = t < len ? len - 1 - t : t;
            if (!shp_copy(y, t * st + b * sb, x, src * st + b * sb, inner))
                return shp_nomem(k);
        }
    }
    return ONYX_OK;
}

/* ---- Unique ---- */

/* Order of elements i and j of t (NaN after everything, equal to NaN). */
static int elem_cmp(const onyx_tensor *t, int64_t i, int64_t j)
{
    switch (t->dtype) {
    case ONYX_STRING: {
        const char *a = ((char *const *)t->data)[i], *b = ((char *const *)t->data)[j];
        int c = strcmp(a ? a : "", b ? b : "");
        return (c > 0) - (c < 0);
    }
    case ONYX_INT64: {
        int64_t a = ((const int64_t *)t->data)[i], b = ((const int64_t *)t->data)[j];
        return (a > b) - (a < b);
    }
    case ONYX_UINT64: {
        uint64_t a = ((const uint64_t *)t->data)[i], b = ((const uint64_t *)t->data)[j];
        return (a > b) - (a < b);
    }
    default: {
        double a = k_get_f64(t, i), b = k_get_f64(t, j);
        if (a != a || b != b) return (a != a) - (b != b);
        return (a > b) - (a < b);
    }
    }
}

typedef struct unique_ctx {
    const onyx_tensor *x;
    int64_t n, inner, outer; /* items along the axis; each is outer runs of inner */
} unique_ctx;

static int item_cmp(const unique_ctx *c, int64_t a, int64_t b)
{
    for (int64_t o = 0; o < c->outer; o++)
        for (int64_t e = 0; e < c->inner; e++) {
            int r = elem_cmp(c->x, (o * c->n + a) * c->inner + e, (o * c->n + b) * c->inner + e);
            if (r) return r;
        }
    return 0;
}

/* Stable merge sort of v[0..n) by item order (tmp has room for n). */
static void sort_items(const unique_ctx *c, int64_t *v, int64_t *tmp, int64_t n)
{
    if (n < 2) return;
    int64_t h = n / 2;
    sort_items(c, v, tmp, h);
    sort_items(c, v + h, tmp, n - h);
    int64_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = item_cmp(c, v[j], v[i]) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[o++] = v[i++];
    while (j < n) tmp[o++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

/* Sorts v[0..n) of group numbers by first[], which are distinct. */
static void sort_by_key(int64_t *v, int64_t *tmp, int64_t n, const int64_t *key)
{
    if (n < 2) return;
    int64_t h = n / 2;
    sort_by_key(v, tmp, h, key);
    sort_by_key(v + h, tmp, n - h, key);
    int64_t i = 0, j = h, o = 0;
    while (i < h && j < n) tmp[o++] = key[v[j]] < key[v[i]] ? v[j++] : v[i++];
    while (i < h) tmp[o++] = v[i++];
    while (j < n) tmp[o++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

static onyx_status op_unique(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    bool sorted = k_attr_int(k, "sorted", 1) != 0;
    const onyx_attr *aa = k_attr(k, "axis");
    unique_ctx c = {x, shp_numel(x), 1, 1};
    int axis = 0;
    if (aa) {
        if (!k_axis(aa->i, x->rank, &axis))
            return k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range for rank %d",
                          (long long)aa->i, x->rank);
        c.n = x->dims[axis];
        c.outer = tensor_numel_of(axis, x->dims);
        c.inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    }
    int64_t n = c.n;
    size_t sz = (size_t)(n ? n : 1) * sizeof(int64_t);
    int64_t *order = malloc(sz), *tmp = malloc(sz), *group = malloc(sz), *first = malloc(sz),
            *count = calloc(1, sz), *rank_of = malloc(sz);
    onyx_status st = ONYX_OK;
    if (!order || !tmp || !group || !first || !count || !rank_of) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory for Unique of %lld items", (long long)n);
        goto out;
    }
    for (int64_t i = 0; i < n; i++) order[i] = i;
    sort_items(&c, order, tmp, n);
    /* groups of equal items, numbered in sorted order; the sort is stable, so
     * each group's first member is its first occurrence */
    int64_t nu = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || item_cmp(&c, order[i - 1], order[i]) != 0) first[nu++] = order[i];
        group[order[i]] = nu - 1;
        count[nu - 1]++;
    }
    /* out[u] = group shown at output position u */
    int64_t *out_g = order;
    for (int64_t g = 0; g < nu; g++) out_g[g] = g;
    if (!sorted) sort_by_key(out_g, tmp, nu, first);
    for (int64_t u = 0; u < nu; u++) rank_of[out_g[u]] = u;

    int64_t dims[ONYX_MAX_RANK];
    int r = aa ? x->rank : 1;
    if (aa) memcpy(dims, x->dims, (size_t)r * sizeof dims[0]);
    dims[aa ? axis : 0] = nu;
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) {
        st = k->err->code;
        goto out;
    }
    for (int64_t o = 0; o < c.outer; o++)
        for (int64_t u = 0; u < nu; u++)
            if (!shp_copy(y, (o * nu + u) * c.inner, x, (o * n + first[out_g[u]]) * c.inner,
                          c.inner)) {
                st = shp_nomem(k);
                goto out;
            }
    onyx_tensor *yi = k_output(k, 1, ONYX_INT64, 1, &nu);
    onyx_tensor *yinv = yi ? k_output(k, 2, ONYX_INT64, 1, &n) : NULL;
    onyx_tensor *ycnt = yinv ? k_output(k, 3, ONYX_INT64, 1, &nu) : NULL;
    if (!ycnt) {
        st = k->err->code;
        goto out;
    }
    for (int64_t u = 0; u < nu; u++) {
        ((int64_t *)yi->data)[u] = first[out_g[u]];
        ((int64_t *)ycnt->data)[u] = count[out_g[u]];
    }
    for (int64_t i = 0; i < n; i++) ((int64_t *)yinv->data)[i] = rank_of[group[i]];
out:
    free(order);
    free(tmp);
    free(group);
    free(first);
    free(count);
    free(rank_of);
    return st;
}

const onyx_op_def onyx_ops_layout[] = {
    {"", "Transpose", op_transpose},
    {"", "Concat", op_concat},
    {"", "Split", op_split},
    {"", "Slice", op_slice},
    {"", "Tile", op_tile},
    {"", "Pad", op_pad},
    {"", "DepthToSpace", op_depth_to_space},
    {"", "SpaceToDepth", op_space_to_depth},
    {"", "Trilu", op_trilu},
    {"", "ReverseSequence", op_reverse_sequence},
    {"", "Unique", op_unique},
    {0},
};
