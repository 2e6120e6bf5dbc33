// The few MPI calls distributed training makes, resolved from Open MPI at run time.
//
// Why dlopen and not a system-library target linking -lmpi: SwiftPM builds every product of the
// package on `swift build`, so a target that includes <mpi.h> would make the whole engine fail to
// build on a machine without libopenmpi-dev, and a linked libmpi would make the single-process
// `zofinetune` fail to start on a machine without libopenmpi3. Opened here, only when a command is
// given --distributed, Open MPI stays an optional run-time dependency, exactly like OpenBLAS
// (CBLAS/blas.c). The price is binding to Open MPI's ABI (libmpi.so.40, its predefined objects
// `ompi_mpi_comm_world`, `ompi_mpi_double`, ... are what mpi.h's macros point at), which has
// been stable since Open MPI 3.0 and is what Debian ships (4.1.x, 5.0.x).
#ifndef ZF_MPI_H
#define ZF_MPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Opens libmpi and calls MPI_Init_thread (serialized). Returns 0, or -1 with zf_mpi_error().
int zf_mpi_init(void);
/// Why zf_mpi_init or the last call failed, or NULL.
const char *zf_mpi_error(void);
int zf_mpi_rank(void);
int zf_mpi_size(void);
/// Every rank contributes `count` bytes; `out` receives size × count bytes, rank order.
int zf_mpi_allgather_bytes(const void *in, int count, void *out);
/// Every rank contributes counts[rank] doubles; `out` receives them all, rank order.
int zf_mpi_allgatherv_double(const double *in, int count, double *out, const int *counts, const int *displs);
/// In-place sum over ranks of `count` floats (chunked below INT_MAX elements).
int zf_mpi_allreduce_sum_float(float *inout, int64_t count);
/// Broadcast of `count` bytes from `root` (chunked).
int zf_mpi_bcast_bytes(void *buffer, int64_t count, int root);
/// Blocking point-to-point float messages (chunked).
int zf_mpi_send_float(const float *buffer, int64_t count, int dest, int tag);
int zf_mpi_recv_float(float *buffer, int64_t count, int source, int tag);
/// Ends the whole job (every rank) with `code`.
void zf_mpi_abort(int code);
int zf_mpi_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
