// Run-time binding to Open MPI; see zf_mpi.h for why the library is opened here and not linked.
#define _GNU_SOURCE
#include "zf_mpi.h"
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

// Open MPI's handles are pointers to predefined objects (mpi.h: OMPI_PREDEFINED_GLOBAL); we keep
// them as void *. MPI_IN_PLACE is ((void *) 1), MPI_STATUS_IGNORE is NULL, MPI_SUCCESS is 0.
typedef void *handle;
#define IN_PLACE ((void *)1)
enum { THREAD_SERIALIZED = 2 };

static int (*p_init_thread)(int *, char ***, int, int *);
static int (*p_initialized)(int *);
static int (*p_comm_rank)(handle, int *);
static int (*p_comm_size)(handle, int *);
static int (*p_allgather)(const void *, int, handle, void *, int, handle, handle);
static int (*p_allgatherv)(const void *, int, handle, void *, const int *, const int *, handle, handle);
static int (*p_allreduce)(const void *, void *, int, handle, handle, handle);
static int (*p_bcast)(void *, int, handle, int, handle);
static int (*p_send)(const void *, int, handle, int, int, handle);
static int (*p_recv)(void *, int, handle, int, int, handle, void *);
static int (*p_abort)(handle, int);
static int (*p_finalize)(void);
static int (*p_error_string)(int, char *, int *);

static handle comm_world, type_byte, type_float, type_double, op_sum;
static char error_message[1024];
static int opened = 0;

static int fail(const char *what, int code) {
    char text[512] = "";
    int length = 0;
    if (p_error_string) p_error_string(code, text, &length);
    snprintf(error_message, sizeof error_message, "%s failed: %s (MPI error %d)", what, text, code);
    return -1;
}

#define BIND(pointer, name)                                                                   \
    do {                                                                                      \
        *(void **)(&pointer) = dlsym(library, name);                                          \
        if (!pointer) {                                                                       \
            snprintf(error_message, sizeof error_message, "%s has no %s: not Open MPI 3 or later?", \
                     loaded, name);                                                           \
            return -1;                                                                        \
        }                                                                                     \
    } while (0)

int zf_mpi_init(void) {
    if (opened) return 0;
    // RTLD_GLOBAL: Open MPI loads its transports as plugins that resolve symbols from libmpi.
    // ZOFINETUNE_MPI_LIBRARY names another build (an Open MPI under /opt, a cluster's module).
    const char *chosen = getenv("ZOFINETUNE_MPI_LIBRARY");
    const char *names[] = {chosen && *chosen ? chosen : "libmpi.so.40", chosen && *chosen ? NULL : "libmpi.so", NULL};
    void *library = NULL;
    const char *loaded = NULL;
    for (int i = 0; names[i] && !library; i++) {
        library = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
        loaded = names[i];
    }
    if (!library) {
        snprintf(error_message, sizeof error_message,
                 "cannot open Open MPI (%s): %s. --distributed needs Open MPI: "
                 "`apt-get install openmpi-bin libopenmpi3`, then run under `mpirun -np N`.", loaded, dlerror());
        return -1;
    }
    BIND(p_init_thread, "MPI_Init_thread");
    BIND(p_initialized, "MPI_Initialized");
    BIND(p_comm_rank, "MPI_Comm_rank");
    BIND(p_comm_size, "MPI_Comm_size");
    BIND(p_allgather, "MPI_Allgather");
    BIND(p_allgatherv, "MPI_Allgatherv");
    BIND(p_allreduce, "MPI_Allreduce");
    BIND(p_bcast, "MPI_Bcast");
    BIND(p_send, "MPI_Send");
    BIND(p_recv, "MPI_Recv");
    BIND(p_abort, "MPI_Abort");
    BIND(p_finalize, "MPI_Finalize");
    BIND(p_error_string, "MPI_Error_string");
    BIND(comm_world, "ompi_mpi_comm_world");
    BIND(type_byte, "ompi_mpi_byte");
    BIND(type_float, "ompi_mpi_float");
    BIND(type_double, "ompi_mpi_double");
    BIND(op_sum, "ompi_mpi_op_sum");
    int provided = 0;
    int code = p_init_thread(NULL, NULL, THREAD_SERIALIZED, &provided);
    if (code != 0) return fail("MPI_Init_thread", code);
    // Errors stay fatal (MPI_ERRORS_ARE_FATAL, the default on MPI_COMM_WORLD): a lost peer ends
    // the job with Open MPI's message instead of leaving a rank waiting forever.
    opened = 1;
    return 0;
}

const char *zf_mpi_error(void) { return error_message[0] ? error_message : NULL; }

int zf_mpi_rank(void) {
    int r = 0;
    if (opened) p_comm_rank(comm_world, &r);
    return r;
}

int zf_mpi_size(void) {
    int n = 1;
    if (opened) p_comm_size(comm_world, &n);
    return n;
}

int zf_mpi_allgather_bytes(const void *in, int count, void *out) {
    int code = p_allgather(in, count, type_byte, out, count, type_byte, comm_world);
    return code ? fail("MPI_Allgather", code) : 0;
}

int zf_mpi_allgatherv_double(const double *in, int count, double *out, const int *counts, const int *displs) {
    int code = p_allgatherv(in, count, type_double, out, counts, displs, type_double, comm_world);
    return code ? fail("MPI_Allgatherv", code) : 0;
}

// MPI counts are int: large buffers (a 1 GB gradient is 268 M floats, under INT_MAX, but a larger
// model's is not) go in chunks.
static const int64_t chunk = INT_MAX / 2;

int zf_mpi_allreduce_sum_float(float *inout, int64_t count) {
    for (int64_t done = 0; done < count; done += chunk) {
        int n = (int)(count - done < chunk ? count - done : chunk);
        int code = p_allreduce(IN_PLACE, inout + done, n, type_float, op_sum, comm_world);
        if (code) return fail("MPI_Allreduce", code);
    }
    return 0;
}

int zf_mpi_bcast_bytes(void *buffer, int64_t count, int root) {
    for (int64_t done = 0; done < count; done += chunk) {
        int n = (int)(count - done < chunk ? count - done : chunk);
        int code = p_bcast((char *)buffer + done, n, type_byte, root, comm_world);
        if (code) return fail("MPI_Bcast", code);
    }
    return 0;
}

int zf_mpi_send_float(const float *buffer, int64_t count, int dest, int tag) {
    for (int64_t done = 0; done < count; done += chunk) {
        int n = (int)(count - done < chunk ? count - done : chunk);
        int code = p_send(buffer + done, n, type_float, dest, tag, comm_world);
        if (code) return fail("MPI_Send", code);
    }
    return 0;
}

int zf_mpi_recv_float(float *buffer, int64_t count, int source, int tag) {
    for (int64_t done = 0; done < count; done += chunk) {
        int n = (int)(count - done < chunk ? count - done : chunk);
        int code = p_recv(buffer + done, n, type_float, source, tag, comm_world, NULL);
        if (code) return fail("MPI_Recv", code);
    }
    return 0;
}

void zf_mpi_abort(int code) {
    if (opened) p_abort(comm_world, code);
    exit(code);
}

int zf_mpi_finalize(void) {
    if (!opened) return 0;
    opened = 0;
    int code = p_finalize();
    return code ? fail("MPI_Finalize", code) : 0;
}
