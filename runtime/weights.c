/* weights.c - initializer bytes in place, copies on demand (see weights.h). */
#include "weights.h"

#include <stdlib.h>
#include <string.h>
#ifdef __unix__
#include <sys/mman.h>
#include <unistd.h>
#endif

struct weight_src {
    weight_store *store;
    weight_src *next;
    onyx_tensor view;           /* the tensor's dtype and dims; data = the aligned array, if any */
    const uint8_t *file;        /* the bytes in the mapped file (any alignment), or NULL: derived */
    bool in_place;              /* file bytes aligned: view.data is them */
    /* derived: float32 out[i] = base[i] * scale[(i / inner) % nch + nch * (i / block)] */
    weight_src *base;           /* the base's bytes, when it has a weight_src */
    const uint8_t *base_bytes;  /* else where they are */
    const float *scale;
    int64_t inner, nch, block;
    void *copy;                 /* the aligned array made for readers, or NULL */
    size_t copy_cap;            /* its size (it may be a reused bigger one) */
    int pins;                   /* readers holding it */
    bool touched;               /* its file pages were read through here since they were last given back */
    bool kept;                  /* the copy stays until the model is freed */
};

#define HUGE_PAGE ((size_t)2 << 20)

void *big_alloc(size_t bytes)
{
    void *p = NULL;
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : 64;
    if (posix_memalign(&p, align, bytes ? bytes : 1)) return NULL;
#if defined(__unix__) && defined(MADV_HUGEPAGE)
    /* only whole huge pages: a partly used one would cost RSS it does not use */
    if (bytes >= HUGE_PAGE) madvise(p, bytes / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return p;
}

bool weights_store_init(weight_store *st)
{
    st->head = NULL;
    st->spare = NULL;
    st->spare_cap = 0;
    return pthread_mutex_init(&st->lock, NULL) == 0;
}

void weights_store_free(weight_store *st)
{
    for (weight_src *s = st->head; s; s = s->next) free(s->copy);
    st->head = NULL;
    free(st->spare);
    st->spare = NULL;
    pthread_mutex_destroy(&st->lock);
}

void weights_trim(weight_store *st)
{
    pthread_mutex_lock(&st->lock);
    free(st->spare);
    st->spare = NULL;
    st->spare_cap = 0;
    pthread_mutex_unlock(&st->lock);
}

static weight_src *new_src(weight_store *st, onyx_pool *p, onyx_tensor *t)
{
    weight_src *s = pool_alloc(p, sizeof *s);
    if (!s) return NULL;
    s->store = st;
    s->view = *t;
    s->view.data = NULL;
    s->view.owns_data = false;
    s->view.wsrc = s;
    s->next = st->head;
    st->head = s;
    t->wsrc = s;
    return s;
}

bool weights_from_file(weight_store *st, onyx_pool *p, onyx_tensor *t, const uint8_t *bytes)
{
    size_t es = onyx_dtype_size(t->dtype), align = es > 8 ? 8 : es;
    bool aligned = align == 0 || (uintptr_t)bytes % align == 0;
    t->data = aligned ? (void *)(uintptr_t)bytes : NULL;
    pthread_mutex_lock(&st->lock);
    weight_src *s = new_src(st, p, t);
    if (s) {
        s->file = bytes;
        s->in_place = aligned;
        s->view.data = t->data;
    }
    pthread_mutex_unlock(&st->lock);
    return s != NULL;
}

bool weights_scaled(weight_store *st, onyx_pool *p, onyx_tensor *out, const onyx_tensor *base,
                    const float *scale, int64_t inner, int64_t nch, int64_t block)
{
    int64_t n = tensor_numel_of(base->rank, base->dims);
    if (base->dtype != ONYX_FLOAT || n <= 0 || inner <= 0 || nch <= 0 || block <= 0 ||
        block % (inner * nch) || n % block)
        return false;
    memset(out, 0, sizeof *out);
    out->kind = ONYX_KIND_TENSOR;
    out->dtype = ONYX_FLOAT;
    out->rank = base->rank;
    memcpy(out->dims, base->dims, sizeof out->dims);
    out->nbytes = (size_t)n * sizeof(float);
    pthread_mutex_lock(&st->lock);
    weight_src *s = new_src(st, p, out);
    if (s) {
        /* a base without a weight_src has its bytes in the pool or the file */
        s->base = base->wsrc;
        s->base_bytes = base->wsrc ? NULL : base->data;
        s->scale = scale;
        s->inner = inner;
        s->nch = nch;
        s->block = block;
    }
    pthread_mutex_unlock(&st->lock);
    return s != NULL;
}

/* ---- with the lock held ---- */

static void drop_file_pages(const weight_src *s)
{
#if defined(__unix__) && defined(MADV_DONTNEED)
    /* every page the bytes touch, the shared first and last ones too: the
     * mapping is read-only, so a neighbour's bytes are reloaded, never lost */
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t lo = (uintptr_t)s->file & ~(page - 1), hi = ((uintptr_t)s->file + s->view.nbytes + page - 1) & ~(page - 1);
    if (s->file && hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)s;
#endif
}

static void let_go(weight_src *s)
{
    if (s->pins > 0 || s->kept) return;
    if (s->copy) {
        /* kept for the next copy, which is likely soon (a session packing one
         * folded weight after another): memory touched once costs a page fault
         * per page only once */
        weight_store *st = s->store;
        if (s->copy_cap > st->spare_cap) {
            free(st->spare);
            st->spare = s->copy;
            st->spare_cap = s->copy_cap;
        } else {
            free(s->copy);
        }
        s->copy = NULL;
        s->copy_cap = 0;
        s->view.data = NULL;
    }
    /* an unaligned weight nobody read through here has no pages to give back:
     * no system call (one in place may have been read through its data) */
    if (s->file && (s->touched || s->in_place)) drop_file_pages(s);
    s->touched = false;
}

static const void *acquire_locked(weight_src *s, bool aligned);
static void release_locked(weight_src *s);

/* Computes a derived weight into out (nbytes/4 floats). */
static bool make_scaled(weight_src *s, float *out)
{
    const uint8_t *src = s->base ? acquire_locked(s->base, false) : s->base_bytes;
    if (!src) return false;
    int64_t total = (int64_t)(s->view.nbytes / sizeof(float)), row = s->inner * s->nch;
    for (int64_t b0 = 0; b0 < total; b0 += s->block) {
        const float *sc = s->scale + s->nch * (b0 / s->block);
        for (int64_t r0 = b0; r0 < b0 + s->block; r0 += row)
            for (int64_t c = 0; c < s->nch; c++) {
                float f = sc[c];
                float *o = out + r0 + c * s->inner;
                /* the bytes may be unaligned: copied, then scaled where they are aligned */
                memcpy(o, src + (size_t)(r0 + c * s->inner) * sizeof(float), (size_t)s->inner * sizeof(float));
                for (int64_t k = 0; k < s->inner; k++) o[k] *= f;
            }
    }
    if (s->base) release_locked(s->base);
    return true;
}

/* Makes view.data an aligned array. */
static bool materialize(weight_src *s)
{
    if (s->view.data) return true;
    weight_store *st = s->store;
    size_t cap = s->view.nbytes;
    void *c;
    if (st->spare && st->spare_cap >= cap) {
        c = st->spare, cap = st->spare_cap;
        st->spare = NULL;
        st->spare_cap = 0;
    } else if (!(c = big_alloc(cap))) {
        return false;
    }
    if (s->file) {
        memcpy(c, s->file, s->view.nbytes);
        s->touched = true;
    } else if (!make_scaled(s, c)) {
        free(c);
        return false;
    }
    s->copy = c;
    s->copy_cap = cap;
    s->view.data = c;
    return true;
}

static const void *acquire_locked(weight_src *s, bool aligned)
{
    const void *p;
    if (s->file) s->touched = true;
    if (!aligned && s->file) {
        p = s->file;
    } else {
        if (!materialize(s)) return NULL;
        p = s->view.data;
    }
    s->pins++;
    return p;
}

static void release_locked(weight_src *s)
{
    if (s->pins > 0) s->pins--;
    let_go(s);
}

/* ---- the interface ---- */

const void *weights_acquire(weight_src *s, bool aligned)
{
    pthread_mutex_lock(&s->store->lock);
    const void *p = acquire_locked(s, aligned);
    pthread_mutex_unlock(&s->store->lock);
    return p;
}

void weights_release(weight_src *s)
{
    pthread_mutex_lock(&s->store->lock);
    release_locked(s);
    pthread_mutex_unlock(&s->store->lock);
}

void weights_drop(weight_src *s)
{
    pthread_mutex_lock(&s->store->lock);
    let_go(s);
    pthread_mutex_unlock(&s->store->lock);
}

static const onyx_tensor *view_of(const onyx_tensor *t, bool keep)
{
    if (!t->wsrc) return t;
    weight_src *s = t->wsrc;
    pthread_mutex_lock(&s->store->lock);
    bool ok = materialize(s);
    if (ok && keep) s->kept = true;
    pthread_mutex_unlock(&s->store->lock);
    return ok ? &s->view : NULL;
}

const onyx_tensor *weights_view(const onyx_tensor *t) { return t->data ? t : view_of(t, false); }

const onyx_tensor *weights_keep(const onyx_tensor *t) { return view_of(t, true); }
