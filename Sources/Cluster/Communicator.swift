import CMPI
import Foundation

/// A failure of the MPI layer, with Open MPI's own message.
public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The ranks of a distributed run and the few collectives training needs (docs/ARCHITECTURE.md,
/// "Distribution is a transport of scalars and activations"). A single process is rank 0 of 1 and
/// every collective returns at once without touching MPI (llm.c's `zero.cuh` does the same), so
/// the sharding logic runs and is tested without Open MPI; `Communicator.mpi()` opens Open MPI at
/// run time (CMPI/zf_mpi.h says why it is not linked).
///
/// Every call counts the payload bytes this rank puts on the wire (`bytesSent`), as the
/// collective's standard algorithm sends them (see each method: an allgather sends this rank's part
/// to N − 1 ranks, a ring allreduce 2(N − 1)/N of the buffer), so `train --json` reports traffic
/// per step without a packet counter. Open MPI's own headers and acknowledgements are not counted.
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    let usesMPI: Bool
    /// Payload bytes this rank has sent since it was made.
    public private(set) var bytesSent: Int = 0

    /// One process: rank 0 of 1.
    public static let single = Communicator(rank: 0, size: 1, usesMPI: false)

    init(rank: Int, size: Int, usesMPI: Bool) {
        (self.rank, self.size, self.usesMPI) = (rank, size, usesMPI)
    }

    /// Opens Open MPI and joins the job `mpirun` started (a lone process is a job of one).
    public static func mpi() throws -> Communicator {
        guard zf_mpi_init() == 0 else { throw ClusterError(lastError("opening Open MPI")) }
        return Communicator(rank: Int(zf_mpi_rank()), size: Int(zf_mpi_size()), usesMPI: true)
    }

    public var isRoot: Bool { rank == 0 }

    static func lastError(_ what: String) -> String {
        zf_mpi_error().map { String(cString: $0) } ?? "\(what) failed"
    }

    func check(_ status: Int32, _ what: String) throws {
        guard status == 0 else { throw ClusterError(Self.lastError(what)) }
    }

    /// The contiguous share of `count` items that `rank` holds: items count·r/N ..< count·(r+1)/N.
    public func share(of count: Int, rank r: Int? = nil) -> Range<Int> {
        let r = r ?? rank
        return (count * r / size)..<(count * (r + 1) / size)
    }

    /// Every rank's `values` (rank r gives `counts[r]` of them), concatenated in rank order, on
    /// every rank. Ring allgather: each rank sends its part to the N−1 others.
    public func allGather(_ values: [Double], counts: [Int]) throws -> [Double] {
        precondition(counts.count == size && counts[rank] == values.count, "allGather: counts do not match the ranks")
        guard size > 1 else { return values }
        var out = [Double](repeating: 0, count: counts.reduce(0, +))
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<size { displacements[r] = displacements[r - 1] + Int32(counts[r - 1]) }
        let counts32 = counts.map { Int32($0) }
        try check(out.withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { v in
                zf_mpi_allgatherv_double(v.baseAddress, Int32(values.count), o.baseAddress, counts32, displacements)
            }
        }, "gathering losses")
        bytesSent += values.count * 8 * (size - 1)
        return out
    }

    /// Every rank's 8-byte word, in rank order.
    public func allGather(_ word: UInt64) throws -> [UInt64] {
        guard size > 1 else { return [word] }
        var out = [UInt64](repeating: 0, count: size)
        var value = word
        try check(out.withUnsafeMutableBytes { o in
            withUnsafeBytes(of: &value) { zf_mpi_allgather_bytes($0.baseAddress, 8, o.baseAddress) }
        }, "gathering fingerprints")
        bytesSent += 8 * (size - 1)
        return out
    }

    /// Sums `count` floats over the ranks, in place. A ring allreduce (reduce-scatter, then
    /// allgather) sends 2·(N−1)/N of the buffer from each rank: that is what is counted.
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        guard size > 1 else { return }
        try check(zf_mpi_allreduce_sum_float(buffer, Int64(count)), "summing gradients")
        bytesSent += 2 * (size - 1) * count * 4 / size
    }

    /// `root`'s bytes on every rank (a tree broadcast: the root sends, counted as once per other rank).
    public func broadcast(_ bytes: [UInt8], root: Int = 0) throws -> [UInt8] {
        guard size > 1 else { return bytes }
        var length = Int64(bytes.count)
        try check(withUnsafeMutableBytes(of: &length) { zf_mpi_bcast_bytes($0.baseAddress, 8, Int32(root)) }, "broadcasting")
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try check(out.withUnsafeMutableBytes { zf_mpi_bcast_bytes($0.baseAddress, length, Int32(root)) }, "broadcasting")
        if rank == root { bytesSent += (bytes.count + 8) * (size - 1) }
        return out
    }

    public func send(_ buffer: UnsafePointer<Float>, count: Int, to destination: Int, tag: Int = 0) throws {
        try check(zf_mpi_send_float(buffer, Int64(count), Int32(destination), Int32(tag)), "sending to rank \(destination)")
        bytesSent += count * 4
    }

    public func receive(_ buffer: UnsafeMutablePointer<Float>, count: Int, from source: Int, tag: Int = 0) throws {
        try check(zf_mpi_recv_float(buffer, Int64(count), Int32(source), Int32(tag)), "receiving from rank \(source)")
    }

    /// Ends every rank of the job (after an error on one of them, so the others do not wait forever).
    public func abort(_ code: Int32) -> Never {
        if usesMPI { zf_mpi_abort(code) }
        exit(code)
    }

    public func finalize() {
        if usesMPI { _ = zf_mpi_finalize() }
    }
}
