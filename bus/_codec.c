/* The Avro writer of bus.avro_writer and the key hash of bus.partitioner in C: the same bytes and the same
 * numbers as their Python code, one call per record instead of a Python operation per field.
 *
 * Why: bus.avro_writer's generated Python costs 3.5-4.5 us per DossierSynced record and murmur2 1.4 us per
 * key, a quarter of bus.Publisher's CPU per event (docs/design/speed-budget.md). The Python modules stay the
 * definition: they use these functions when this module was built, and tests/unit/test_codec_native.py
 * checks them against their Python code.
 *
 * encode(program, record) walks a program that bus.avro_writer compiles from the schema, with the kind
 * numbers of KINDS (this file is the one place they are defined). Nothing here trusts the program or the
 * record: every tuple, size and type is checked, and a value that does not fit raises TypeError,
 * ValueError, KeyError or OverflowError, as the Python writer raises one of them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    K_NULL, K_BOOLEAN, K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_STRING, K_BYTES,
    K_ENUM, K_UNION, K_ARRAY, K_MAP, K_RECORD, K_FIXED, K_COUNT
};
static const char *const KIND_NAMES[K_COUNT] = {
    "null", "boolean", "int", "long", "float", "double", "string", "bytes",
    "enum", "union", "array", "map", "record", "fixed",
};
#define MAX_DEPTH 64

typedef struct {
    char *data;
    Py_ssize_t size, capacity;
} Buffer;

static int
reserve(Buffer *b, Py_ssize_t more)
{
    if (more > PY_SSIZE_T_MAX - b->size) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t need = b->size + more;
    if (need <= b->capacity) {
        return 0;
    }
    Py_ssize_t capacity = b->capacity;
    while (capacity < need) {
        capacity = capacity > PY_SSIZE_T_MAX / 2 ? need : capacity * 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static int
put(Buffer *b, const char *bytes, Py_ssize_t size)
{
    if (reserve(b, size) < 0) {
        return -1;
    }
    memcpy(b->data + b->size, bytes, (size_t)size);
    b->size += size;
    return 0;
}

/* An Avro long: zig-zag, then a little-endian base-128 varint. */
static int
put_long(Buffer *b, int64_t value)
{
    if (reserve(b, 10) < 0) {
        return -1;
    }
    uint64_t code = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    unsigned char *at = (unsigned char *)b->data + b->size;
    while (code >= 0x80) {
        *at++ = (unsigned char)((code & 0x7F) | 0x80);
        code >>= 7;
    }
    *at++ = (unsigned char)code;
    b->size = (char *)at - b->data;
    return 0;
}

static int
put_integer(Buffer *b, PyObject *value, int is_int)
{
    if (!PyLong_Check(value)) {
        PyErr_Format(PyExc_TypeError, "an Avro %s must be an int, not %.100s", is_int ? "int" : "long",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    int overflow = 0;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow || (is_int && (number < INT32_MIN || number > INT32_MAX))) {
        PyErr_Format(PyExc_ValueError, "%R is out of the range of an Avro %s", value, is_int ? "int" : "long");
        return -1;
    }
    return put_long(b, (int64_t)number);
}

static int
put_sized(Buffer *b, const char *bytes, Py_ssize_t size)
{
    if (put_long(b, (int64_t)size) < 0) {
        return -1;
    }
    return put(b, bytes, size);
}

static int
put_string(Buffer *b, PyObject *value)
{
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "an Avro string must be a str, not %.100s", Py_TYPE(value)->tp_name);
        return -1;
    }
    Py_ssize_t size = 0;
    const char *text = PyUnicode_AsUTF8AndSize(value, &size); /* UnicodeEncodeError for a lone surrogate */
    if (text == NULL) {
        return -1;
    }
    return put_sized(b, text, size);
}

/* -1 with ValueError, unless an error is set already (a conversion of the program's argument failed). */
static int
malformed(void)
{
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "a malformed writer program");
    }
    return -1;
}

static PyObject *
arg(PyObject *op, Py_ssize_t at)
{
    if (PyTuple_GET_SIZE(op) <= at) {
        malformed();
        return NULL;
    }
    return PyTuple_GET_ITEM(op, at);
}

/* bytes(value), length-prefixed (fixed_size < 0) or of exactly fixed_size bytes, as the Python writer writes
 * an Avro bytes or fixed. */
static int
put_bytes_of(Buffer *b, PyObject *value, Py_ssize_t fixed_size)
{
    PyObject *bytes = PyBytes_FromObject(value);
    if (bytes == NULL) {
        return -1;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(bytes);
    int failed;
    if (fixed_size < 0) {
        failed = put_sized(b, PyBytes_AS_STRING(bytes), size);
    }
    else if (size != fixed_size) {
        PyErr_Format(PyExc_ValueError, "fixed of %zd bytes", fixed_size);
        failed = -1;
    }
    else {
        failed = put(b, PyBytes_AS_STRING(bytes), size);
    }
    Py_DECREF(bytes);
    return failed;
}

static int write_value(Buffer *b, PyObject *op, PyObject *value, int depth);

static int
write_record(Buffer *b, PyObject *fields, PyObject *value, int depth)
{
    if (!PyTuple_Check(fields)) {
        return malformed();
    }
    int exact = PyDict_CheckExact(value);
    for (Py_ssize_t at = 0; at < PyTuple_GET_SIZE(fields); at++) {
        PyObject *field = PyTuple_GET_ITEM(fields, at);
        if (!PyTuple_Check(field) || PyTuple_GET_SIZE(field) != 2) {
            return malformed();
        }
        PyObject *name = PyTuple_GET_ITEM(field, 0), *item;
        if (exact) {
            item = PyDict_GetItemWithError(value, name);
            if (item == NULL) {
                if (!PyErr_Occurred()) {
                    PyErr_SetObject(PyExc_KeyError, name);
                }
                return -1;
            }
            Py_INCREF(item);
        }
        else {
            item = PyObject_GetItem(value, name); /* any mapping; TypeError for what is not one */
            if (item == NULL) {
                return -1;
            }
        }
        int failed = write_value(b, PyTuple_GET_ITEM(field, 1), item, depth + 1);
        Py_DECREF(item);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

/* An array or a map: one block of all the items, then the empty block (what fastavro writes). */
static int
write_block(Buffer *b, PyObject *items_op, PyObject *value, int depth, int is_map)
{
    int present = PyObject_IsTrue(value);
    if (present < 0) {
        return -1;
    }
    if (present) {
        PyObject *items = is_map ? PyMapping_Items(value) : PySequence_List(value);
        if (items == NULL) {
            return -1;
        }
        Py_ssize_t count = PyList_GET_SIZE(items);
        int failed = put_long(b, (int64_t)count);
        for (Py_ssize_t at = 0; !failed && at < count; at++) {
            PyObject *item = PyList_GET_ITEM(items, at);
            if (is_map) {
                if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
                    PyErr_SetString(PyExc_TypeError, "a map's items must be pairs");
                    failed = -1;
                    break;
                }
                failed = put_string(b, PyTuple_GET_ITEM(item, 0));
                if (!failed) {
                    failed = write_value(b, items_op, PyTuple_GET_ITEM(item, 1), depth + 1);
                }
            }
            else {
                failed = write_value(b, items_op, item, depth + 1);
            }
        }
        Py_DECREF(items);
        if (failed) {
            return -1;
        }
    }
    return put(b, "\0", 1);
}

static int
write_value(Buffer *b, PyObject *op, PyObject *value, int depth)
{
    if (depth > MAX_DEPTH) {
        PyErr_SetString(PyExc_ValueError, "a writer program nested too deeply");
        return -1;
    }
    if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) < 1 || !PyLong_Check(PyTuple_GET_ITEM(op, 0))) {
        return malformed();
    }
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
    switch (kind) {
    case K_NULL:
        if (value != Py_None) {
            PyErr_Format(PyExc_TypeError, "not null: %R", value);
            return -1;
        }
        return 0;
    case K_BOOLEAN: {
        int truth = PyObject_IsTrue(value); /* as the Python writer: any value, by its truth */
        return truth < 0 ? -1 : put(b, truth ? "\1" : "\0", 1);
    }
    case K_INT:
    case K_LONG:
        return put_integer(b, value, kind == K_INT);
    case K_FLOAT:
    case K_DOUBLE: {
        double number = PyFloat_AsDouble(value);
        if (number == -1.0 && PyErr_Occurred()) {
            return -1;
        }
        Py_ssize_t size = kind == K_FLOAT ? 4 : 8;
        if (reserve(b, size) < 0) {
            return -1;
        }
        unsigned char *at = (unsigned char *)b->data + b->size;
        int failed = kind == K_FLOAT ? PyFloat_Pack4(number, (char *)at, 1) : PyFloat_Pack8(number, (char *)at, 1);
        if (failed) {
            return -1; /* OverflowError: too large for a float */
        }
        b->size += size;
        return 0;
    }
    case K_STRING:
        return put_string(b, value);
    case K_BYTES:
        return put_bytes_of(b, value, -1);
    case K_ENUM: {
        PyObject *symbols = arg(op, 1);
        if (symbols == NULL) {
            return -1;
        }
        if (!PyDict_Check(symbols)) {
            return malformed();
        }
        PyObject *index = PyDict_GetItemWithError(symbols, value); /* TypeError if it does not hash */
        if (index == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, value);
            }
            return -1;
        }
        return put_integer(b, index, 0);
    }
    case K_UNION: { /* ["null", X] or [X, "null"]: (kind, index of null, X) */
        PyObject *null_index = arg(op, 1), *branch = arg(op, 2);
        if (null_index == NULL || branch == NULL) {
            return -1;
        }
        long null_at = PyLong_Check(null_index) ? PyLong_AsLong(null_index) : -1;
        if (null_at != 0 && null_at != 1) {
            return malformed();
        }
        if (value == Py_None) {
            return put_long(b, null_at);
        }
        if (put_long(b, 1 - null_at) < 0) {
            return -1;
        }
        return write_value(b, branch, value, depth + 1);
    }
    case K_ARRAY:
    case K_MAP: {
        PyObject *items_op = arg(op, 1);
        return items_op == NULL ? -1 : write_block(b, items_op, value, depth, kind == K_MAP);
    }
    case K_RECORD: {
        PyObject *fields = arg(op, 1);
        return fields == NULL ? -1 : write_record(b, fields, value, depth);
    }
    case K_FIXED: {
        PyObject *size_object = arg(op, 1);
        if (size_object == NULL) {
            return -1;
        }
        Py_ssize_t size = PyLong_Check(size_object) ? PyLong_AsSsize_t(size_object) : -1;
        return size < 0 ? malformed() : put_bytes_of(b, value, size);
    }
    default:
        return malformed();
    }
}

/* encode(program, record) -> bytes */
static PyObject *
encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode takes a program and a record");
        return NULL;
    }
    Buffer b = {PyMem_Malloc(512), 0, 512};
    if (b.data == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    if (write_value(&b, args[0], args[1], 0) == 0) {
        result = PyBytes_FromStringAndSize(b.data, b.size);
    }
    PyMem_Free(b.data);
    return result;
}

/* murmur2(data) -> int: the unsigned 32-bit MurmurHash2 of data with Kafka's seed. */
static PyObject *
murmur2(PyObject *module, PyObject *data)
{
    (void)module;
    if (!PyBytes_CheckExact(data)) {
        PyErr_Format(PyExc_TypeError, "murmur2 takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    const unsigned char *at = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t length = PyBytes_GET_SIZE(data);
    if (length > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "murmur2 takes less than 4 GiB");
        return NULL;
    }
    const uint32_t m = 0x5BD1E995;
    uint32_t h = 0x9747B28C ^ (uint32_t)length;
    Py_ssize_t words = length / 4;
    for (Py_ssize_t i = 0; i < words; i++, at += 4) {
        uint32_t k = (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h = h * m ^ k;
    }
    switch (length & 3) {
    case 3:
        h ^= (uint32_t)at[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)at[1] << 8;
        /* fall through */
    case 1:
        h ^= at[0];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return PyLong_FromUnsignedLong(h);
}

static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "The Avro binary encoding of a record, by a program of bus.avro_writer."},
    {"murmur2", murmur2, METH_O, "Kafka's murmur2 of bytes (unsigned 32-bit)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "bus._codec", "The Avro writer and murmur2 in C (see bus.avro_writer).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__codec(void)
{
    PyObject *self = PyModule_Create(&module);
    if (self == NULL) {
        return NULL;
    }
    PyObject *kinds = PyTuple_New(K_COUNT);
    if (kinds == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    for (int at = 0; at < K_COUNT; at++) {
        PyObject *name = PyUnicode_FromString(KIND_NAMES[at]);
        if (name == NULL) {
            Py_DECREF(kinds);
            Py_DECREF(self);
            return NULL;
        }
        PyTuple_SET_ITEM(kinds, at, name);
    }
    if (PyModule_AddObject(self, "KINDS", kinds) < 0) {
        Py_DECREF(kinds);
        Py_DECREF(self);
        return NULL;
    }
    return self;
}
