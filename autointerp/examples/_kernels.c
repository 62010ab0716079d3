/* The examples stage's two per-nonzero loops, compiled. Each has a numpy twin that finds the same
 * result (the reference in tests, and the fallback when this module was not built).
 *
 * centered_windows: the centered activating windows of one latent, strongest first, as
 * `_centered_numpy` in windows.py finds them: every nonzero proposes the window that puts it `left`
 * tokens from the window's start (shifted to fit inside its row); a proposal counts when its token
 * is the strongest in its window; proposals are accepted strongest first, dropping any that
 * overlaps an accepted one. numpy needs ~40 full passes over the nonzeros for this; here it is one
 * pass, work per crowd of overlapping proposals, and a radix sort of the accepted windows.
 *
 * "Strongest" is strongest_first's order: larger activation, ties to the earlier nonzero.
 *
 * cooccurrence_counts: for one latent, how many of its tokens every latent fires on (what
 * CoOccurrenceNeighbours ranks by). numpy materialises ~25 gathered entries per nonzero, five times
 * over; here each is one increment of a counter that fits in cache.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float act;
    int64_t index; /* nonzero index: breaks ties, earlier is stronger */
    int64_t slot;  /* position of the proposal inside its crowd */
} Proposal;

static inline int stronger(float a, int64_t i, float b, int64_t j) {
    return a > b || (a == b && i < j);
}

static int by_strength(const void *x, const void *y) {
    const Proposal *a = x, *b = y;
    if (stronger(a->act, a->index, b->act, b->index)) return -1;
    if (stronger(b->act, b->index, a->act, a->index)) return 1;
    return 0;
}

/* Peaks of their own windows, ascending, into peaks[]; their window keys (row * 2 * ctx + start,
 * so windows overlap exactly when keys differ by less than width) into keys[]. */
static int64_t find_peaks(const int64_t *ti, const float *act, int64_t n, int64_t ctx, int64_t width, int64_t left,
                          int64_t *peaks, int64_t *keys) {
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t row = ti[i] / ctx, start = ti[i] - row * ctx - left;
        if (start < 0) start = 0;
        if (start > ctx - width) start = ctx - width;
        int64_t lo = row * ctx + start, hi = lo + width;
        int peak = 1;
        for (int64_t j = i - 1; peak && j >= 0 && ti[j] >= lo; j--)
            if (stronger(act[j], j, act[i], i)) peak = 0;
        for (int64_t j = i + 1; peak && j < n && ti[j] < hi; j++)
            if (stronger(act[j], j, act[i], i)) peak = 0;
        if (peak) {
            peaks[count] = i;
            keys[count] = row * 2 * ctx + start;
            count++;
        }
    }
    return count;
}

/* The greedy inside one crowd: maximal run [a, b) of proposals whose neighbours overlap. Proposals
 * are visited strongest first; one still free is accepted and the free ones it overlaps are
 * dropped. Sets state[k] for k in [a, b) to 1 (accepted) or 2 (dropped). Keys ascend, so the
 * proposals a window overlaps lie next to it. */
static void settle_crowd(const float *act, const int64_t *peaks, const int64_t *keys, int64_t a, int64_t b,
                         int64_t width, Proposal *order, char *state) {
    int64_t size = b - a;
    for (int64_t k = 0; k < size; k++) {
        order[k].act = act[peaks[a + k]];
        order[k].index = peaks[a + k];
        order[k].slot = k;
        state[a + k] = 0; /* 0 free, 1 accepted, 2 dropped */
    }
    if (size <= 16) { /* crowds are small: insertion sort */
        for (int64_t k = 1; k < size; k++) {
            Proposal p = order[k];
            int64_t m = k;
            for (; m > 0 && stronger(p.act, p.index, order[m - 1].act, order[m - 1].index); m--) order[m] = order[m - 1];
            order[m] = p;
        }
    } else {
        qsort(order, (size_t)size, sizeof(Proposal), by_strength);
    }
    for (int64_t k = 0; k < size; k++) {
        int64_t s = a + order[k].slot;
        if (state[s]) continue;
        state[s] = 1;
        for (int64_t m = s - 1; m >= a && keys[s] - keys[m] < width; m--) state[m] = state[m] ? state[m] : 2;
        for (int64_t m = s + 1; m < b && keys[m] - keys[s] < width; m++) state[m] = state[m] ? state[m] : 2;
    }
}

/* Sort key putting larger activations first: the float's bits made order-preserving as unsigned
 * (flip every bit of a negative, the sign bit of a positive; -0 taken as +0), then inverted. */
static inline uint32_t strongest_first_key(float v) {
    uint32_t u;
    if (v == 0.0f) v = 0.0f;
    memcpy(&u, &v, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~u;
}

/* Stable LSD radix sort of items[0:n] by key: three passes of 11 bits, a pass skipped when every
 * key has the same digit there (activations share most exponent bits). Stable, so ties keep the
 * items' incoming (location) order, as numpy's stable sort does. */
static void radix_sort(int64_t *items, uint32_t *keys, int64_t n, int64_t *items_tmp, uint32_t *keys_tmp) {
    static const int bits = 11, buckets = 1 << 11;
    int64_t count[3][1 << 11];
    memset(count, 0, sizeof count);
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < 3; d++) count[d][(keys[i] >> (bits * d)) & (buckets - 1)]++;
    for (int d = 0; d < 3 && n > 1; d++) {
        if (count[d][(keys[0] >> (bits * d)) & (buckets - 1)] == n) continue;
        int64_t offset = 0;
        for (int b = 0; b < buckets; b++) {
            int64_t c = count[d][b];
            count[d][b] = offset;
            offset += c;
        }
        for (int64_t i = 0; i < n; i++) {
            int64_t to = count[d][(keys[i] >> (bits * d)) & (buckets - 1)]++;
            items_tmp[to] = items[i];
            keys_tmp[to] = keys[i];
        }
        memcpy(items, items_tmp, (size_t)n * sizeof *items);
        memcpy(keys, keys_tmp, (size_t)n * sizeof *keys);
    }
}

/* centered_windows(token_index, activations, ctx_len, width, left, peaks, rows, starts) -> n
 * token_index: int64 [m] ascending; activations: float32 [m]; peaks, rows, starts: int64 [m],
 * writable. Writes the accepted windows strongest first (ties in location order): the nonzero
 * index of each one's peak token to peaks[:n], its row and start to rows[:n] and starts[:n]. */
static PyObject *centered_windows(PyObject *self, PyObject *args) {
    Py_buffer tb, ab, ob, rb, sb;
    Py_ssize_t ctx, width, left;
    if (!PyArg_ParseTuple(args, "y*y*nnnw*w*w*", &tb, &ab, &ctx, &width, &left, &ob, &rb, &sb)) return NULL;
    PyObject *result = NULL;
    int64_t n = tb.len / 8;
    if (tb.len % 8 || ab.len != n * 4 || ob.len < n * 8 || rb.len < n * 8 || sb.len < n * 8) {
        PyErr_SetString(PyExc_ValueError, "centered_windows: need int64 token_index, float32 activations and int64 outputs of the same length");
        goto done;
    }
    if (ctx < 1 || width < 1 || width > ctx || left < 0 || left >= width) {
        PyErr_SetString(PyExc_ValueError, "centered_windows: need 1 <= width <= ctx_len and 0 <= left < width");
        goto done;
    }
    size_t size = (size_t)(n ? n : 1);
    int64_t *keys = malloc(size * sizeof(int64_t));
    Proposal *order = malloc(size * sizeof(Proposal));
    char *state = malloc(size);
    uint32_t *sort_keys = malloc(size * sizeof(uint32_t)), *sort_tmp = malloc(size * sizeof(uint32_t));
    if (!keys || !order || !state || !sort_keys || !sort_tmp) {
        free(keys), free(order), free(state), free(sort_keys), free(sort_tmp);
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *ti = tb.buf;
    const float *act = ab.buf;
    int64_t *peaks = ob.buf, *rows = rb.buf, *starts = sb.buf, kept = 0;
    Py_BEGIN_ALLOW_THREADS
    int64_t count = find_peaks(ti, act, n, ctx, width, left, peaks, keys);
    for (int64_t a = 0; a < count;) {
        int64_t b = a + 1;
        while (b < count && keys[b] - keys[b - 1] < width) b++;
        if (b - a == 1) {
            state[a] = 1;
        } else {
            settle_crowd(act, peaks, keys, a, b, width, order, state);
        }
        /* compact in place: kept <= a, and every slot written has been read */
        for (int64_t k = a; k < b; k++)
            if (state[k] == 1) peaks[kept++] = peaks[k];
        a = b;
    }
    for (int64_t k = 0; k < kept; k++) sort_keys[k] = strongest_first_key(act[peaks[k]]);
    radix_sort(peaks, sort_keys, kept, keys, sort_tmp); /* keys is free scratch by now */
    for (int64_t k = 0; k < kept; k++) {
        int64_t row = ti[peaks[k]] / ctx, start = ti[peaks[k]] - row * ctx - left;
        rows[k] = row;
        starts[k] = start < 0 ? 0 : (start > ctx - width ? ctx - width : start);
    }
    Py_END_ALLOW_THREADS
    free(keys), free(order), free(state), free(sort_keys), free(sort_tmp);
    result = PyLong_FromLongLong(kept);
done:
    PyBuffer_Release(&tb);
    PyBuffer_Release(&ab);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&rb);
    PyBuffer_Release(&sb);
    return result;
}

/* cooccurrence_counts(ptr, latent_sorted, token_index, counts) -> None
 * ptr: int64 [n_tokens + 1] and latent_sorted: int32 [nnz], token-major CSR (the latents firing on
 * token t are latent_sorted[ptr[t]:ptr[t + 1]]); token_index: int64 [m], the latent's tokens;
 * counts: int64 [d_sae], writable, zeroed by the caller: counts[j] += tokens shared with latent j. */
static PyObject *cooccurrence_counts(PyObject *self, PyObject *args) {
    Py_buffer pb, lb, tb, cb;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &pb, &lb, &tb, &cb)) return NULL;
    const int64_t *ptr = pb.buf, *ti = tb.buf;
    const int32_t *latent = lb.buf;
    int64_t *counts = cb.buf;
    int64_t n_tokens = pb.len / 8 - 1, nnz = lb.len / 4, m = tb.len / 8, d_sae = cb.len / 8;
    int bad = pb.len % 8 || lb.len % 4 || tb.len % 8 || cb.len % 8 || n_tokens < 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < m && !bad; i++) {
        int64_t t = ti[i];
        if (t < 0 || t >= n_tokens || ptr[t] < 0 || ptr[t] > ptr[t + 1] || ptr[t + 1] > nnz) {
            bad = 1;
            break;
        }
        /* a latent's tokens lie all over the cache: each is two cache misses (its ptr entry, then
         * its latents), so fetch both a few tokens ahead and the misses overlap */
        if (i + 16 < m && ti[i + 16] >= 0 && ti[i + 16] < n_tokens) __builtin_prefetch(&ptr[ti[i + 16]]);
        if (i + 8 < m && ti[i + 8] >= 0 && ti[i + 8] < n_tokens && ptr[ti[i + 8]] >= 0 && ptr[ti[i + 8]] < nnz)
            __builtin_prefetch(&latent[ptr[ti[i + 8]]]);
        for (int64_t p = ptr[t]; p < ptr[t + 1]; p++) {
            int32_t j = latent[p];
            if (j < 0 || j >= d_sae) {
                bad = 1;
                break;
            }
            counts[j]++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&pb);
    PyBuffer_Release(&lb);
    PyBuffer_Release(&tb);
    PyBuffer_Release(&cb);
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "cooccurrence_counts: need int64 ptr, int32 latents, int64 tokens and int64 counts, "
                                          "every token below len(ptr) - 1 and every latent below len(counts)");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"centered_windows", centered_windows, METH_VARARGS,
     "centered_windows(token_index, activations, ctx_len, width, left, peaks, rows, starts) -> n: a latent's "
     "centered windows, strongest first: peak nonzero, row and start of each in the outputs' first n entries."},
    {"cooccurrence_counts", cooccurrence_counts, METH_VARARGS,
     "cooccurrence_counts(ptr, latent_sorted, token_index, counts): counts[j] += the latent's tokens latent j fires on."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "Compiled loops of the examples stage.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
