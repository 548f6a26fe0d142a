/* test_conv_fast.c - the fast float paths of Conv, FusedConv, MatMul, Gemm,
 * FusedMatMul and FusedGemm (packed weights in prepare(), the GEMM, the phase
 * image, the epilogue) against the same operators' reference kernels (run
 * without a prepared state), on random shapes: 1-D and 2-D, 1x1, 3x3, 5x5, 7x7,
 * strides, dilations, asymmetric pads, groups, depthwise, batch, residual Z,
 * every activation; 1 and 3 threads must agree bit for bit.
 * The process re-runs itself with ONYX_ISA=generic and avx2 so every
 * microkernel this CPU has is covered; the totals line sums all runs
 * (ONYX_TEST_WRAPPER, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu", prefixes
 * the child's command line when the test itself runs under an emulator). */
#include "../../ops/gemm.h"
#include "harness.h"

/* Fast (1 and 3 threads) against reference; tol relative to the magnitude. */
static void compare(const op_call *c, onyx_threads *tp1, onyx_threads *tp3, const char *what)
{
    onyx_tensor ref, f1, f3;
    onyx_error e0, e1, e3;
    onyx_status s0 = op_run(c, false, tp1, &ref, &e0);
    onyx_status s1 = op_run(c, true, tp1, &f1, &e1);
    onyx_status s3 = op_run(c, true, tp3, &f3, &e3);
    CHECK(s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK, "%s: status %d %d %d (%s / %s)", what,
          s0, s1, s3, e0.message, e1.message);
    if (s0 || s1 || s3) goto out;
    int64_t n = tensor_numel_of(ref.rank, ref.dims);
    CHECK(n == tensor_numel_of(f1.rank, f1.dims), "%s: sizes differ", what);
    if (n != tensor_numel_of(f1.rank, f1.dims)) goto out;
    const float *r = ref.data, *a = f1.data, *b = f3.data;
    int64_t at;
    double worst = max_rel_error(a, r, n, &at);
    CHECK(worst < 2e-5, "%s: max error %g of max|ref| at %lld (%g vs %g)", what, worst, (long long)at,
          at >= 0 ? a[at] : 0.0, at >= 0 ? r[at] : 0.0);
    CHECK(memcmp(a, b, (size_t)n * sizeof(float)) == 0, "%s: 3 threads differ from 1", what);
out:
    tensor_release(&ref);
    tensor_release(&f1);
    tensor_release(&f3);
}

static const char *act_names[] = {"",        "Relu",    "Clip",    "LeakyRelu", "HardSwish",
                                  "HardSigmoid", "Sigmoid", "SiLU", "Tanh",      "Gelu"};

/* Sets the activation attributes of a fused op; returns the count added. */
static int add_act(onyx_attr *at, float *params)
{
    int a = rnd(10);
    at[0] = attr_str("activation", act_names[a]);
    if (a == 2) {
        params[0] = -0.5f, params[1] = 0.7f;
        at[1] = attr_floats("activation_params", 2, params);
        return 2;
    }
    if (a == 3) {
        params[0] = 0.2f;
        at[1] = attr_floats("activation_params", 1, params);
        return 2;
    }
    return 1;
}

static void test_conv(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int nsp = 1 + (rnd(5) != 0);
    int64_t grp = rnd(4) == 0 ? 1 + rnd(3) : 1;
    bool depthwise = rnd(5) == 0;
    int64_t cg = depthwise ? 1 : 1 + rnd(rnd(3) ? 9 : 40), mg = depthwise ? 1 : 1 + rnd(rnd(3) ? 19 : 70);
    if (depthwise) grp = 1 + rnd(12);
    int64_t nb = 1 + (rnd(5) == 0);
    int64_t xd[4] = {nb, cg * grp, 0, 0}, wd[4] = {mg * grp, cg, 0, 0};
    int64_t ks[2], st[2], dl[2], pads[4];
    static const int64_t kchoice[] = {1, 1, 3, 3, 3, 5, 7, 2};
    for (int a = 0; a < nsp; a++) {
        ks[a] = kchoice[rnd(8)];
        st[a] = rnd(3) ? 1 : 2 + rnd(2);
        dl[a] = rnd(5) ? 1 : 2;
        pads[a] = rnd(3) ? ks[a] / 2 : rnd(3);
        pads[nsp + a] = rnd(4) ? pads[a] : rnd(3);
        int64_t need = (ks[a] - 1) * dl[a] + 1 - pads[a] - pads[nsp + a];
        xd[2 + a] = (need > 1 ? need : 1) + rnd(rnd(3) ? 20 : 70);
        wd[2 + a] = ks[a];
    }
    if (rnd(4) == 0) /* a pointwise conv as the GEMM reads it directly */
        for (int a = 0; a < nsp; a++) ks[a] = wd[2 + a] = 1, st[a] = 1, pads[a] = pads[nsp + a] = 0;
    onyx_tensor *x = rand_tensor(2 + nsp, xd), *w = rand_tensor(2 + nsp, wd);
    int64_t bd[1] = {mg * grp};
    onyx_tensor *b = rnd(4) ? rand_tensor(1, bd) : NULL;
    op_call c;
    memset(&c, 0, sizeof c);
    bool fused = rnd(2);
    c.domain = fused ? "ai.onyx" : "";
    c.op = fused ? "FusedConv" : "Conv";
    c.in[0] = x, c.in[1] = w, c.in[2] = b;
    c.n_in = 3;
    c.n_const = 2;
    c.attr[c.n_attr++] = attr_int("group", grp);
    c.attr[c.n_attr++] = attr_ints("strides", nsp, st);
    c.attr[c.n_attr++] = attr_ints("dilations", nsp, dl);
    c.attr[c.n_attr++] = attr_ints("pads", 2 * nsp, pads);
    onyx_tensor *z = NULL;
    float params[2];
    if (fused) {
        c.n_attr += add_act(c.attr + c.n_attr, params);
        if (rnd(2)) {
            int64_t yd[4] = {nb, mg * grp, 0, 0};
            for (int a = 0; a < nsp; a++)
                yd[2 + a] = (xd[2 + a] + pads[a] + pads[nsp + a] - ((ks[a] - 1) * dl[a] + 1)) / st[a] + 1;
            z = rand_tensor(2 + nsp, yd);
            c.in[3] = z;
            c.n_in = 4;
        }
    }
    char what[200];
    snprintf(what, sizeof what,
             "#%d %s nsp=%d N=%lld C=%lld M=%lld g=%lld in=%lldx%lld k=%lldx%lld s=%lld,%lld d=%lld,%lld",
             iter, c.op, nsp, (long long)nb, (long long)xd[1], (long long)wd[0], (long long)grp,
             (long long)xd[2], (long long)(nsp > 1 ? xd[3] : 1), (long long)ks[0],
             (long long)(nsp > 1 ? ks[1] : 1), (long long)st[0], (long long)(nsp > 1 ? st[1] : 1),
             (long long)dl[0], (long long)(nsp > 1 ? dl[1] : 1));
    compare(&c, tp1, tp3, what);
    onyx_tensor_free(x);
    onyx_tensor_free(w);
    onyx_tensor_free(b);
    onyx_tensor_free(z);
}

static void test_matmul(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int64_t m = 1 + rnd(rnd(3) ? 20 : 130), kd = 1 + rnd(rnd(3) ? 40 : 300), n = 1 + rnd(rnd(3) ? 40 : 100);
    int64_t batch = 1 + rnd(3);
    bool b_batched = rnd(3) == 0, fused = rnd(2);
    int64_t ad[3] = {batch, m, kd}, bd3[3] = {batch, kd, n};
    onyx_tensor *a = rand_tensor(3, ad), *b = b_batched ? rand_tensor(3, bd3) : rand_tensor(2, bd3 + 1);
    int64_t biasd[1] = {n}, zd[3] = {batch, m, n};
    op_call c;
    memset(&c, 0, sizeof c);
    c.domain = fused ? "ai.onyx" : "";
    c.op = fused ? "FusedMatMul" : "MatMul";
    c.in[0] = a, c.in[1] = b;
    c.n_in = 2;
    c.n_const = 1;
    onyx_tensor *bias = NULL, *z = NULL;
    float params[2];
    if (fused) {
        c.n_attr = add_act(c.attr, params);
        if (rnd(2)) bias = rand_tensor(1, biasd);
        if (rnd(2)) z = rnd(2) ? rand_tensor(3, zd) : rand_tensor(1, zd + 2); /* full or broadcast */
        c.in[2] = bias, c.in[3] = z;
        c.n_in = 4;
    }
    char what[160];
    snprintf(what, sizeof what, "#%d %s batch=%lld m=%lld k=%lld n=%lld b_batched=%d", iter, c.op,
             (long long)batch, (long long)m, (long long)kd, (long long)n, b_batched);
    compare(&c, tp1, tp3, what);
    onyx_tensor_free(a);
    onyx_tensor_free(b);
    onyx_tensor_free(bias);
    onyx_tensor_free(z);
}

static void test_gemm_op(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int64_t m = 1 + rnd(40), kd = 1 + rnd(rnd(3) ? 40 : 300), n = 1 + rnd(70);
    bool ta = rnd(2), tb = rnd(2), fused = rnd(2);
    int64_t ad[2] = {ta ? kd : m, ta ? m : kd}, bd[2] = {tb ? n : kd, tb ? kd : n};
    onyx_tensor *a = rand_tensor(2, ad), *b = rand_tensor(2, bd), *cc = NULL;
    int form = rnd(5);
    int64_t cd_full[2] = {m, n}, cd_row[1] = {n}, cd_col[2] = {m, 1}, cd_one[1] = {1};
    if (form == 1) cc = rand_tensor(2, cd_full);
    if (form == 2) cc = rand_tensor(1, cd_row);
    if (form == 3) cc = rand_tensor(2, cd_col);
    if (form == 4) cc = rand_tensor(1, cd_one);
    op_call c;
    memset(&c, 0, sizeof c);
    c.domain = fused ? "ai.onyx" : "";
    c.op = fused ? "FusedGemm" : "Gemm";
    c.in[0] = a, c.in[1] = b, c.in[2] = cc;
    c.n_in = 3;
    c.n_const = 2;
    c.attr[c.n_attr++] = attr_int("transA", ta);
    c.attr[c.n_attr++] = attr_int("transB", tb);
    if (rnd(3) == 0) c.attr[c.n_attr++] = attr_float("alpha", 0.5f);
    if (rnd(3) == 0) c.attr[c.n_attr++] = attr_float("beta", 2.0f);
    float params[2];
    if (fused) c.n_attr += add_act(c.attr + c.n_attr, params);
    char what[160];
    snprintf(what, sizeof what, "#%d %s m=%lld k=%lld n=%lld ta=%d tb=%d C form %d", iter, c.op,
             (long long)m, (long long)kd, (long long)n, ta, tb, form);
    compare(&c, tp1, tp3, what);
    onyx_tensor_free(a);
    onyx_tensor_free(b);
    onyx_tensor_free(cc);
}

/* Bad input fails with a message, never a crash. */
static void test_errors(onyx_threads *tp1)
{
    int64_t xd[4] = {1, 4, 5, 5}, wd[4] = {6, 3, 3, 3};
    onyx_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd);
    op_call c;
    memset(&c, 0, sizeof c);
    c.domain = "ai.onyx";
    c.op = "FusedConv";
    c.in[0] = x, c.in[1] = w;
    c.n_in = 2;
    c.n_const = 1;
    onyx_tensor out;
    onyx_error e;
    onyx_status st = op_run(&c, true, tp1, &out, &e);
    CHECK(st != ONYX_OK && e.message[0], "channel mismatch accepted");
    tensor_release(&out);
    c.attr[c.n_attr++] = attr_str("activation", "Swish");
    wd[1] = 4;
    onyx_tensor *w2 = rand_tensor(4, wd);
    c.in[1] = w2;
    st = op_run(&c, true, tp1, &out, &e);
    CHECK(st != ONYX_OK && strstr(e.message, "Swish"), "unknown activation accepted: %s", e.message);
    tensor_release(&out);
    onyx_tensor_free(x);
    onyx_tensor_free(w);
    onyx_tensor_free(w2);
}

#include <time.h>
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* `test_conv_fast --bench`: GFLOP/s of ResNet-50 convolutions through the
 * operator (prepare once, best of many runs, one thread). */
static void bench(void)
{
    static const struct {
        int64_t c, m, hw, k, s;
    } layers[] = {{64, 64, 56, 1, 1},   {64, 64, 56, 3, 1},   {256, 64, 56, 1, 1},
                  {64, 256, 56, 1, 1},  {128, 128, 28, 3, 1}, {256, 256, 14, 3, 1},
                  {1024, 256, 14, 1, 1}, {512, 512, 7, 3, 1},  {2048, 512, 7, 1, 1},
                  {3, 64, 224, 7, 2},   {128, 128, 56, 3, 2}};
    onyx_threads *tp1 = threads_create(1);
    const onyx_op_def *d = onyx_find_op("", "Conv");
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        int64_t xd[4] = {1, layers[i].c, layers[i].hw, layers[i].hw};
        int64_t wd[4] = {layers[i].m, layers[i].c, layers[i].k, layers[i].k};
        int64_t pads[4] = {layers[i].k / 2, layers[i].k / 2, layers[i].k / 2, layers[i].k / 2};
        int64_t st[2] = {layers[i].s, layers[i].s};
        onyx_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd);
        onyx_attr at[2] = {attr_ints("pads", 4, pads), attr_ints("strides", 2, st)};
        const onyx_tensor *consts[2] = {NULL, w}, *ins[2] = {x, w};
        onyx_tensor out;
        memset(&out, 0, sizeof out);
        onyx_tensor *outs[1] = {&out};
        onyx_error err;
        onyx_kctx k;
        memset(&k, 0, sizeof k);
        k.op_type = "Conv", k.domain = "", k.opset = 19, k.n_attrs = 2, k.attrs = at;
        k.n_inputs = 2, k.inputs = consts, k.n_outputs = 1, k.outputs = outs, k.err = &err;
        k.threads = tp1;
        void *state = NULL;
        d->prepare(&k, &state);
        k.inputs = ins;
        k.state = state;
        double best = 1e30;
        for (int r = 0; r < 30; r++) {
            double t = now();
            d->run(&k);
            t = now() - t;
            if (t < best) best = t;
        }
        int64_t oh = out.dims[2];
        double flops = 2.0 * (double)(layers[i].m * layers[i].c * layers[i].k * layers[i].k * oh * oh);
        printf("Conv %4lld -> %4lld, %lldx%lld stride %lld at %3lldx%-3lld: %6.3f ms %6.1f GFLOP/s\n",
               (long long)layers[i].c, (long long)layers[i].m, (long long)layers[i].k,
               (long long)layers[i].k, (long long)layers[i].s, (long long)layers[i].hw,
               (long long)layers[i].hw, best * 1e3, flops / best * 1e-9);
        d->release(state);
        tensor_release(&out);
        onyx_tensor_free(x);
        onyx_tensor_free(w);
    }
    threads_free(tp1);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench();
        return 0;
    }
    int child_passed = 0, child_failed = 0;
    run_lower_isas(argv[0], &child_passed, &child_failed);
    onyx_threads *tp1 = threads_create(1), *tp3 = threads_create(3);
    for (int i = 0; i < 300; i++) test_conv(tp1, tp3, i);
    for (int i = 0; i < 150; i++) test_matmul(tp1, tp3, i);
    for (int i = 0; i < 150; i++) test_gemm_op(tp1, tp3, i);
    test_errors(tp1);
    threads_free(tp1);
    threads_free(tp3);
    printf("isa %s: %s\n", onyx_isa_name(onyx_cpu_info()->isa), failed ? "FAILED" : "ok");
    printf("%d passed, %d failed\n", passed + child_passed, failed + child_failed);
    return failed + child_failed ? 1 : 0;
}
