/* The hashing of bus.signing.tree in C: the same leaves, nodes and proofs as its Python code, one call per
 * leaf or per tree instead of one per hash.
 *
 * Why: a SHA-256 of a 65-byte node costs 0.05 us in OpenSSL and 0.4 us called from Python; a batch of n
 * records hashes n leaves and n - 1 nodes, and builds n proofs by concatenation. The Python module
 * (bus/signing/tree.py) stays the definition: it uses these functions when this module was built, and
 * tests/unit/test_merkle_native.py checks them against its pure-Python code.
 *
 * SHA-256 is OpenSSL's (libcrypto, the library Python's hashlib uses), through EVP: nothing hand-rolled.
 * The GIL is held throughout, so one digest context serves every call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <openssl/evp.h>

#define HASH_SIZE 32

static EVP_MD *sha256;
static EVP_MD_CTX *context;

static int
digest(const unsigned char *const *parts, const size_t *sizes, int count, unsigned char *out)
{
    if (!EVP_DigestInit_ex2(context, sha256, NULL)) {
        return -1;
    }
    for (int at = 0; at < count; at++) {
        if (sizes[at] && !EVP_DigestUpdate(context, parts[at], sizes[at])) {
            return -1;
        }
    }
    unsigned int size = 0;
    if (!EVP_DigestFinal_ex(context, out, &size) || size != HASH_SIZE) {
        return -1;
    }
    return 0;
}

static PyObject *
openssl_failed(void)
{
    PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
    return NULL;
}

static void
put_length(unsigned char *at, Py_ssize_t length)
{
    at[0] = (unsigned char)(length >> 24);
    at[1] = (unsigned char)(length >> 16);
    at[2] = (unsigned char)(length >> 8);
    at[3] = (unsigned char)length;
}

/* full_leaf_hash(key, ce_id, source, type, time, value): SHA-256(0x00 || each part as a 4-byte big-endian
 * length and its bytes). */
static PyObject *
full_leaf_hash(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "full_leaf_hash takes 6 bytes arguments");
        return NULL;
    }
    static const unsigned char leaf_prefix = 0x00;
    unsigned char lengths[6][4];
    const unsigned char *parts[13];
    size_t sizes[13];
    parts[0] = &leaf_prefix;
    sizes[0] = 1;
    for (int at = 0; at < 6; at++) {
        PyObject *part = args[at];
        if (!PyBytes_CheckExact(part)) {
            PyErr_Format(PyExc_TypeError, "full_leaf_hash: argument %d must be bytes", at + 1);
            return NULL;
        }
        Py_ssize_t size = PyBytes_GET_SIZE(part);
        if ((unsigned long long)size > 0xFFFFFFFEull) {  /* 0xFFFFFFFF means "absent" */
            PyErr_SetString(PyExc_ValueError, "a leaf part is longer than 4 GiB - 2");
            return NULL;
        }
        put_length(lengths[at], size);
        parts[1 + 2 * at] = lengths[at];
        sizes[1 + 2 * at] = 4;
        parts[2 + 2 * at] = (const unsigned char *)PyBytes_AS_STRING(part);
        sizes[2 + 2 * at] = (size_t)size;
    }
    unsigned char out[HASH_SIZE];
    if (digest(parts, sizes, 13, out) < 0) {
        return openssl_failed();
    }
    return PyBytes_FromStringAndSize((const char *)out, HASH_SIZE);
}

static int
node_into(const unsigned char *left, const unsigned char *right, unsigned char *out)
{
    static const unsigned char node_prefix = 0x01;
    const unsigned char *parts[3] = {&node_prefix, left, right};
    const size_t sizes[3] = {1, HASH_SIZE, HASH_SIZE};
    return digest(parts, sizes, 3, out);
}

static const unsigned char *
hash_of(PyObject *item, const char *what)
{
    if (!PyBytes_CheckExact(item) || PyBytes_GET_SIZE(item) != HASH_SIZE) {
        PyErr_Format(PyExc_ValueError, "%s must be bytes of %d", what, HASH_SIZE);
        return NULL;
    }
    return (const unsigned char *)PyBytes_AS_STRING(item);
}

/* node(left, right): SHA-256(0x01 || left || right), both 32-byte hashes. */
static PyObject *
node(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "node takes 2 hashes");
        return NULL;
    }
    const unsigned char *left = hash_of(args[0], "a node's left child");
    const unsigned char *right = left ? hash_of(args[1], "a node's right child") : NULL;
    if (right == NULL) {
        return NULL;
    }
    unsigned char out[HASH_SIZE];
    if (node_into(left, right, out) < 0) {
        return openssl_failed();
    }
    return PyBytes_FromStringAndSize((const char *)out, HASH_SIZE);
}

/* proofs(leaves): (root, [each leaf's inclusion proof]), as tree.proofs builds them: the tree level by level
 * (an odd last node carried up unchanged), then each node's proof is its sibling followed by its parent's.
 * Leaves are 32-byte hashes. */
static PyObject *
proofs(PyObject *module, PyObject *arg)
{
    (void)module;
    PyObject *leaves = PySequence_Fast(arg, "proofs takes a sequence of leaves");
    if (leaves == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(leaves);
    PyObject *result = NULL;
    unsigned char *nodes = NULL;
    Py_ssize_t *offsets = NULL;   /* where each level starts in nodes */
    Py_ssize_t *widths = NULL;    /* how many nodes each level has */
    PyObject *paths = NULL;
    if (count < 1) {
        PyErr_SetString(PyExc_ValueError, "a tree needs at least one leaf");
        goto done;
    }
    if (count > ((Py_ssize_t)1 << 40)) {
        PyErr_SetString(PyExc_ValueError, "too many leaves");
        goto done;
    }
    int levels = 1;
    for (Py_ssize_t width = count; width > 1; width = (width + 1) / 2) {
        levels++;
    }
    /* Each level holds half the one below, rounded up: at most 2 * count + levels nodes in all. */
    nodes = PyMem_Malloc((size_t)(2 * count + levels) * HASH_SIZE);
    offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)levels);
    widths = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)levels);
    if (nodes == NULL || offsets == NULL || widths == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject **items = PySequence_Fast_ITEMS(leaves);
    for (Py_ssize_t at = 0; at < count; at++) {
        const unsigned char *leaf = hash_of(items[at], "every leaf");
        if (leaf == NULL) {
            goto done;
        }
        memcpy(nodes + at * HASH_SIZE, leaf, HASH_SIZE);
    }
    offsets[0] = 0;
    widths[0] = count;
    for (int level = 1; level < levels; level++) {
        Py_ssize_t below = offsets[level - 1], width = widths[level - 1];
        Py_ssize_t here = below + width, made = 0;
        for (Py_ssize_t at = 0; at + 1 < width; at += 2, made++) {
            if (node_into(nodes + (below + at) * HASH_SIZE, nodes + (below + at + 1) * HASH_SIZE,
                          nodes + (here + made) * HASH_SIZE) < 0) {
                openssl_failed();
                goto done;
            }
        }
        if (width % 2) {  /* the odd last node goes up unchanged */
            memcpy(nodes + (here + made) * HASH_SIZE, nodes + (below + width - 1) * HASH_SIZE, HASH_SIZE);
            made++;
        }
        offsets[level] = here;
        widths[level] = made;
    }
    paths = PyList_New(count);
    if (paths == NULL) {
        goto done;
    }
    unsigned char path[64 * HASH_SIZE];  /* at most 41 levels below the root */
    for (Py_ssize_t leaf = 0; leaf < count; leaf++) {
        Py_ssize_t index = leaf, used = 0;
        for (int level = 0; level + 1 < levels; level++, index >>= 1) {
            Py_ssize_t sibling = index ^ 1;
            if (sibling < widths[level]) {  /* a carried node has no sibling at its level */
                memcpy(path + used, nodes + (offsets[level] + sibling) * HASH_SIZE, HASH_SIZE);
                used += HASH_SIZE;
            }
        }
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)path, used);
        if (bytes == NULL) {
            goto done;
        }
        PyList_SET_ITEM(paths, leaf, bytes);
    }
    PyObject *top = PyBytes_FromStringAndSize((const char *)(nodes + offsets[levels - 1] * HASH_SIZE), HASH_SIZE);
    if (top != NULL) {
        result = PyTuple_Pack(2, top, paths);
        Py_DECREF(top);
    }
done:
    Py_XDECREF(paths);
    PyMem_Free(nodes);
    PyMem_Free(offsets);
    PyMem_Free(widths);
    Py_DECREF(leaves);
    return result;
}

static PyMethodDef methods[] = {
    {"full_leaf_hash", (PyCFunction)(void (*)(void))full_leaf_hash, METH_FASTCALL,
     "SHA-256 of the RFC 9162 leaf framing of six present parts."},
    {"node", (PyCFunction)(void (*)(void))node, METH_FASTCALL, "SHA-256(0x01 || left || right)."},
    {"proofs", proofs, METH_O, "The root and every leaf's inclusion proof (hashes concatenated)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bus.signing._merkle", "RFC 9162 hashing in C (see bus.signing.tree).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__merkle(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    context = EVP_MD_CTX_new();
    if (sha256 == NULL || context == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL has no SHA-256");
        return NULL;
    }
    return PyModule_Create(&module);
}
