/* fuzz_loader.c - libFuzzer target: any byte string given to the loader and
 * to session creation must give a model or a clear error, never a crash, a
 * leak or undefined behaviour. Seeded with the conformance suite's models. */
#include "onyx.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void count(const char *domain, const char *op, int n, void *ud)
{
    (void)domain, (void)op;
    *(int *)ud += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_buffer(data, size, &m, &err) != ONYX_OK) {
        /* an error must say what is wrong */
        if (err.message[0] == 0) __builtin_trap();
        return 0;
    }
    onyx_model_summary s;
    onyx_model_get_summary(m, &s);
    int nodes = 0;
    onyx_model_op_histogram(m, count, &nodes);
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        if (!v.name) __builtin_trap();
    }
    onyx_session *sess;
    if (onyx_session_create(m, NULL, &sess, &err) == ONYX_OK) onyx_session_free(sess);
    else if (err.message[0] == 0) __builtin_trap();
    onyx_model_free(m);
    return 0;
}
