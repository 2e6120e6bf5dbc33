import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file mapped read-only into memory. The header is parsed and validated once in
/// `init`; tensors are converted to f32 on demand, so a 1 GB checkpoint costs page cache, not heap.
///
/// Immutable after `init`, so one instance may be read from several threads at once.
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    private let base: UnsafeRawPointer
    private let mappedSize: Int
    private let header: SafeTensorsHeader

    /// Opens and validates `path`. Throws `WeightsError` (cannotOpen, truncated, badHeaderLength,
    /// badHeaderJSON, badEntry, unknownDType, badOffsets).
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw WeightsError(.cannotOpen, "\(path): cannot open (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }  // the mapping stays valid after the descriptor is closed
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw WeightsError(.cannotOpen, "\(path): cannot stat (\(String(cString: strerror(errno))))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw WeightsError(.cannotOpen, "\(path): not a regular file")
        }
        let size = Int(st.st_size)
        guard size >= 8 else {
            // mmap of an empty file fails, so report truncation before trying.
            throw WeightsError(
                .truncated, "\(path): file is \(size) bytes, shorter than the 8-byte safetensors header length")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw WeightsError(.cannotOpen, "\(path): cannot mmap \(size) bytes (\(String(cString: strerror(errno))))")
        }
        do {
            header = try SafeTensorsHeader(base: UnsafeRawPointer(mapped), fileSize: size, path: path)
        } catch {
            munmap(mapped, size)
            throw error
        }
        base = UnsafeRawPointer(mapped)
        mappedSize = size
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
    }

    /// Every tensor in the file, readable or not, sorted by name.
    public var tensorNames: [String] { header.entries.keys.sorted() }

    /// The header's `__metadata__` (empty if absent).
    public var metadata: [String: String] { header.metadata }

    /// Size of the file in bytes.
    public var fileSize: Int { mappedSize }

    /// The bytes after the header, as mapped (valid while this object lives).
    public var dataSection: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + header.dataStart, count: mappedSize - header.dataStart)
    }

    /// The dtype exactly as stored ("F32", "BF16", "I64", ...), for tensors a loader wants to skip
    /// by type (e.g. BERT's I64 `position_ids` buffer). Throws `missingTensor`.
    public func storedDType(_ name: String) throws -> String {
        try entry(name).dtypeName
    }

    /// The stored shape of any tensor, readable or not. Throws `missingTensor`.
    public func storedShape(_ name: String) throws -> [Int] {
        try entry(name).shape
    }

    /// Header information for a float tensor. Throws `missingTensor`, or `unsupportedDType` for a
    /// tensor whose dtype is not F32/F16/BF16.
    public func info(_ name: String) throws -> TensorInfo {
        let e = try entry(name)
        guard let dtype = e.dtype else {
            throw WeightsError(
                .unsupportedDType,
                "\(path): tensor '\(name)' has dtype \(e.dtypeName); only F32, F16 and BF16 can be read as floats")
        }
        return TensorInfo(
            name: name, dtype: dtype, shape: e.shape, dataOffsets: e.begin..<e.end,
            fileOffset: header.dataStart + e.begin)
    }

    /// Converts tensor `name` to f32 (F16/BF16 widened exactly) into `destination`, whose count must
    /// equal the tensor's element count. If `expectedShape` is given, the stored shape must equal it.
    /// Throws `missingTensor`, `unsupportedDType`, `shapeMismatch` or `countMismatch`.
    ///
    /// `releasePages`: drop the file's pages of this tensor from memory as they are copied
    /// (madvise DONTNEED on the private mapping). Loading into a parameter arena then never holds
    /// the file and the arena resident together, so peak RSS stays near the arena's size.
    public func read(
        _ name: String, into destination: UnsafeMutableBufferPointer<Float>, expectedShape: [Int]? = nil,
        releasePages: Bool = false
    ) throws {
        let info = try self.info(name)
        if let expected = expectedShape, expected != info.shape {
            throw WeightsError(
                .shapeMismatch, "\(path): tensor '\(name)' has shape \(info.shape) but \(expected) was expected")
        }
        let n = info.count
        guard destination.count == n else {
            throw WeightsError(
                .countMismatch,
                "\(path): tensor '\(name)' has \(n) elements (shape \(info.shape)) but the destination holds "
                    + "\(destination.count)")
        }
        guard n > 0, let dst = destination.baseAddress else { return }
        let chunk = releasePages ? 1 << 22 : n   // elements per copy-then-release round
        var done = 0
        while done < n {
            let count = min(chunk, n - done)
            let src = base + info.fileOffset + done * info.dtype.size
            switch info.dtype {
            case .f32:
                // The data section is only guaranteed byte-aligned in general; memcpy does not care.
                memcpy(dst + done, src, count * 4)
            case .f16:
                Self.widenF16(src, dst + done, count)
            case .bf16:
                Self.widenBF16(src, dst + done, count)
            }
            if releasePages { releaseWholePages(src, bytes: count * info.dtype.size) }
            done += count
        }
    }

    /// Copies tensor `name` as bf16 bits into `destination` (`count` elements): a BF16 tensor
    /// bit for bit, an F32 one rounded to nearest even. With `releasePages` the file's pages are
    /// given back chunk by chunk, so loading an f32 file into a bf16 arena never holds the f32
    /// tensor resident. Throws as `read`, and `unsupportedDType` for F16 (f16 → bf16 is not exact).
    public func readBF16(_ name: String, into destination: UnsafeMutablePointer<UInt16>, count n: Int,
                         expectedShape: [Int]? = nil, releasePages: Bool = false) throws {
        let info = try self.info(name)
        if let expected = expectedShape, expected != info.shape {
            throw WeightsError(
                .shapeMismatch, "\(path): tensor '\(name)' has shape \(info.shape) but \(expected) was expected")
        }
        guard info.count == n else {
            throw WeightsError(.countMismatch, "\(path): tensor '\(name)' has \(info.count) elements but the bf16 destination holds \(n)")
        }
        if info.dtype == .f16 {
            throw WeightsError(.unsupportedDType, "\(path): tensor '\(name)' is F16, which does not narrow to bf16 exactly; "
                               + "load it with --weights f32")
        }
        let chunk = releasePages ? 1 << 22 : max(1, n)
        var done = 0
        while done < n {
            let count = min(chunk, n - done)
            let src = base + info.fileOffset + done * info.dtype.size
            if info.dtype == .bf16 {
                memcpy(destination + done, src, count * 2)
            } else {
                let dst = destination + done
                for i in 0..<count {
                    dst[i] = BFloat16.roundNearestEven(Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self))))
                }
            }
            if releasePages { releaseWholePages(src, bytes: count * info.dtype.size) }
            done += count
        }
    }

    /// The dtypes of every float tensor in the file ("F32", "BF16", "F16"), for `--weights`' default.
    public var floatDTypes: Set<String> {
        Set(header.entries.values.compactMap { $0.dtype?.rawValue })
    }

    /// Copies elements `range` of a tensor (flat, row-major) to `destination`, widened to f32,
    /// releasing the file pages they lay on.
    public func readElements(_ name: String, _ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) throws {
        let info = try self.info(name)
        precondition(range.lowerBound >= 0 && range.upperBound <= info.count, "elements \(range) outside \(name)'s \(info.count)")
        let size = info.dtype.size
        let src = base + info.fileOffset + range.lowerBound * size
        switch info.dtype {
        case .f32: memcpy(destination, src, range.count * 4)
        case .f16: Self.widenF16(src, destination, range.count)
        case .bf16: Self.widenBF16(src, destination, range.count)
        }
        releaseWholePages(src, bytes: range.count * size)
    }

    /// Copies rows of a 2-D tensor (rows of `shape[1]` elements) to `destination(row)`, widened to
    /// f32, releasing the file pages each row lay on: a pipeline stage materialises embedding rows
    /// as batches first read them, so the table is never resident whole.
    public func readRows(_ name: String, _ rows: [Int], into destination: (Int) -> UnsafeMutablePointer<Float>) throws {
        let info = try self.info(name)
        guard info.shape.count == 2 else {
            throw WeightsError(.shapeMismatch, "\(path): tensor '\(name)' has shape \(info.shape), not (rows, columns)")
        }
        let width = info.shape[1], size = info.dtype.size
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        for row in rows {
            precondition(row >= 0 && row < info.shape[0], "row \(row) outside \(name)'s \(info.shape[0])")
            let src = base + info.fileOffset + row * width * size, dst = destination(row)
            switch info.dtype {
            case .f32: memcpy(dst, src, width * 4)
            case .f16: Self.widenF16(src, dst, width)
            case .bf16: Self.widenBF16(src, dst, width)
            }
            // The pages the row touched, rounded outward: a private read-only mapping refaults them if needed.
            let first = Int(bitPattern: src) / page * page
            let end = (Int(bitPattern: src) + width * size + page - 1) / page * page
            _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, Int32(MADV_DONTNEED))
        }
    }

    /// Gives back the mapped pages lying entirely inside [start, start + bytes).
    func releaseWholePages(_ start: UnsafeRawPointer, bytes: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + bytes) / page * page
        if end > first {
            _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, Int32(MADV_DONTNEED))
        }
    }

    /// Convenience: the tensor as a new f32 array.
    public func floats(_ name: String) throws -> [Float] {
        let n = try info(name).count
        var result = [Float](repeating: 0, count: n)
        try result.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return result
    }

    private func entry(_ name: String) throws -> StoredEntry {
        guard let e = header.entries[name] else {
            throw WeightsError(
                .missingTensor, "\(path): no tensor named '\(name)' (the file has \(header.entries.count) tensors)")
        }
        return e
    }

    // Element-wise widening. Loads are unaligned-safe because a writer may pad the header to any
    // length; on x86 an unaligned load costs nothing and the loops vectorise (vcvtph2ps / shifts).

    private static func widenF16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let bits = src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)
            dst[i] = halfToFloat(UInt16(littleEndian: bits))
        }
    }

    #if os(macOS) && arch(x86_64)
    // Float16 is unavailable on Intel macOS: widen by hand (sign, exponent rebias, subnormals).
    @inline(__always) private static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24  // subnormal (or zero): exact in f32
            return Float(bitPattern: sign | magnitude.bitPattern)
        }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }
    #else
    @inline(__always) private static func halfToFloat(_ h: UInt16) -> Float {
        Float(Float16(bitPattern: h))
    }
    #endif

    private static func widenBF16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        // bf16 is the top half of an f32, so widening is a 16-bit shift: exact, NaN and Inf included.
        for i in 0..<n {
            let bits = src.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)
            dst[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bits)) << 16)
        }
    }
}
