import Foundation
import Tensors

/// What a parameter is, for the optimizers (weight decay skips norms and biases) and for export.
public enum ParameterRole: String, Sendable {
    case embedding, matrix, norm, bias
}

/// One named tensor the model declares: its Hugging Face name and shape.
public struct ParameterSpec: Sendable {
    public let name: String
    public let shape: [Int]
    public let role: ParameterRole
    public init(_ name: String, _ shape: [Int], _ role: ParameterRole) {
        self.name = name
        self.shape = shape
        self.role = role
    }
}

/// A spec placed in the arena: elements offset..<offset+count.
public struct ParameterSlot: Sendable {
    public let spec: ParameterSpec
    public let offset: Int
    public var name: String { spec.name }
    public var shape: [Int] { spec.shape }
    public var role: ParameterRole { spec.role }
    public var count: Int { spec.shape.reduce(1, *) }
}

/// Every trainable parameter of a model in one contiguous Float buffer (docs/ARCHITECTURE.md, decision 1), in
/// the order the model declares them, each slot starting on a 64-byte boundary. MeZO's perturbation
/// and update are single loops over `storage`; gradients and optimizer moments reuse the layout.
/// The few alignment gaps are zero-initialised and never read by the model.
public final class ParameterArena: @unchecked Sendable {
    public let slots: [ParameterSlot]
    /// Elements in the buffer, alignment gaps included.   storage: (count)
    public let count: Int
    public let storage: UnsafeMutablePointer<Float>
    /// Weights for a model; gradients and optimizer moments reuse the layout under their own tags.
    public let tag: MemoryTag
    private let slotIndex: [String: Int]

    static let alignment = 16  // floats = 64 bytes, one AVX-512 vector

    /// - Parameter touch: false for an arena of which only some slots will be filled (a pipeline
    ///   stage): its other pages are never made resident (`TaggedMemory.allocate`).
    public convenience init(specs: [ParameterSpec], tag: MemoryTag = .weights, touch: Bool = true) {
        do { try self.init(checking: specs, tag: tag, touch: touch) } catch { preconditionFailure("\(error)") }
    }

    /// The arena of shapes that come from input (a LoRA rank, a number of prefix tokens): a shape
    /// whose element count overflows Int, or an allocation the system refuses, is an error naming
    /// the tensor and the bytes asked for, not a trap.
    public init(checking specs: [ParameterSpec], tag: MemoryTag = .weights, touch: Bool = true) throws {
        let (slots, count) = try Self.layout(specs)
        guard Set(specs.map(\.name)).count == specs.count else { throw WeightsError(.duplicateTensor, "duplicate parameter names") }
        self.slots = slots
        self.count = count
        self.tag = tag
        let what = specs.count == 1 ? "tensor \(specs[0].name) \(specs[0].shape)" : "\(specs.count) tensors (first \(specs.first?.name ?? "-"))"
        guard let storage = TaggedMemory.allocateIfPossible(floats: count, tag: tag, touch: touch) else {
            throw WeightsError(.cannotAllocate, "cannot allocate \(count * MemoryLayout<Float>.size) bytes for \(what)")
        }
        self.storage = storage
        slotIndex = Dictionary(uniqueKeysWithValues: slots.enumerated().map { ($1.name, $0) })
    }

    /// Slots at aligned offsets and the total element count, by checked arithmetic: the element
    /// count of every shape and of the whole arena, in bytes too, must fit in Int.
    static func layout(_ specs: [ParameterSpec]) throws -> ([ParameterSlot], Int) {
        var slots: [ParameterSlot] = []
        var offset = 0
        for spec in specs {
            var n = 1
            for d in spec.shape {
                let (product, overflow) = n.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else {
                    throw WeightsError(.cannotAllocate, "tensor \(spec.name): shape \(spec.shape) has more elements than an Int holds")
                }
                n = product
            }
            slots.append(ParameterSlot(spec: spec, offset: offset))
            let (end, overflow) = offset.addingReportingOverflow(n)
            guard !overflow, end <= Int.max / MemoryLayout<Float>.size - Self.alignment else {
                throw WeightsError(.cannotAllocate, "tensor \(spec.name) \(spec.shape): the parameters' bytes exceed what an Int holds")
            }
            offset = (end + Self.alignment - 1) / Self.alignment * Self.alignment
        }
        return (slots, offset)
    }

    deinit { TaggedMemory.free(storage, count: count, tag: tag) }

    /// A zeroed arena with this one's layout, e.g. for gradients or optimizer moments.
    public func sameLayout(tag: MemoryTag) -> ParameterArena {
        ParameterArena(specs: slots.map(\.spec), tag: tag)
    }

    /// Bytes of the buffer, alignment gaps included.
    public var byteCount: Int { count * MemoryLayout<Float>.size }

    /// Parameters proper (alignment gaps excluded).
    public var parameterCount: Int { slots.reduce(0) { $0 + $1.count } }

    public func slot(_ name: String) -> ParameterSlot? { slotIndex[name].map { slots[$0] } }

    /// The slot's elements.   (slot.count)
    public func pointer(_ slot: ParameterSlot) -> UnsafeMutablePointer<Float> { storage + slot.offset }

    /// The named parameter; the name must be one the model declared (programmer error otherwise).
    public subscript(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let s = slot(name) else { preconditionFailure("no parameter named \(name)") }
        return pointer(s)
    }

    public func buffer(_ slot: ParameterSlot) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: pointer(slot), count: slot.count)
    }

    /// Fills every slot from `files`, strictly (docs/ARCHITECTURE.md, decision 7): each slot must be found in
    /// exactly one file with the declared shape, and every tensor in the files must fill a slot or
    /// appear in `ignoring` (name → why it is not needed).
    public func load(from files: [SafeTensorsFile], ignoring: [String: String] = [:]) throws {
        var owner: [String: SafeTensorsFile] = [:]
        for file in files {
            for name in file.tensorNames {
                if let other = owner[name] {
                    throw WeightsError(.duplicateTensor,
                        "tensor \"\(name)\" appears in both \(other.path) and \(file.path)")
                }
                owner[name] = file
            }
        }
        let fileList = files.map(\.path).joined(separator: ", ")
        for slot in slots {
            guard let file = owner[slot.name] else {
                throw WeightsError(.missingTensor,
                    "missing tensor \"\(slot.name)\" (shape \(slot.shape)) in \(fileList)")
            }
            try file.read(slot.name, into: buffer(slot), expectedShape: slot.shape, releasePages: true)
        }
        for (name, file) in owner where slotIndex[name] == nil && ignoring[name] == nil {
            throw WeightsError(.unexpectedTensor,
                "\(file.path): tensor \"\(name)\" is not a parameter of this model")
        }
    }
}

extension ParameterArena {
    /// Fills only the slots named `names` (a pipeline stage's part), each strictly as `load` does.
    public func load(_ names: [String], from files: [SafeTensorsFile]) throws {
        for name in names {
            guard let slot = slot(name) else { preconditionFailure("no parameter named \(name)") }
            guard let file = files.first(where: { $0.tensorNames.contains(name) }) else {
                throw WeightsError(.missingTensor, "missing tensor \"\(name)\" (shape \(slot.shape)) in "
                                   + files.map(\.path).joined(separator: ", "))
            }
            try file.read(name, into: buffer(slot), expectedShape: slot.shape, releasePages: true)
        }
    }

    /// A 64-bit fingerprint of every element's bits (hex), to tie a run's seed log to the exact
    /// base weights it started from. Chunks of fixed size are hashed in parallel and combined in
    /// order, so the value does not depend on the thread count.
    public func fingerprint(threads: Int = 2) -> String {
        let chunk = Self.fingerprintChunk
        let chunks = (count + chunk - 1) / chunk
        var partial = [UInt64](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: max(1, threads)) { worker in
                var c = worker
                while c < chunks {
                    let lo = c * chunk, hi = Swift.min(count, lo + chunk)
                    out[c] = Self.chunkHash(storage + lo, count: hi - lo)
                    c += max(1, threads)
                }
            }
        }
        return Self.combine(partial)
    }

    static let fingerprintChunk = 1 << 20

    /// FNV-1a over 16 lanes of one chunk's bits, folded to 64 bits (`fingerprint`).
    static func chunkHash(_ x: UnsafePointer<Float>, count: Int) -> UInt64 {
        var acc = SIMD16<UInt32>(repeating: 2_166_136_261)   // FNV-1a per lane
        let words = UnsafeRawPointer(x)
        var i = 0
        while i + 16 <= count {
            acc = (acc ^ words.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<UInt32>.self)) &* 16_777_619
            i += 16
        }
        var h: UInt64 = 14_695_981_039_346_656_037
        for lane in 0..<16 { h = (h ^ UInt64(acc[lane])) &* 1_099_511_628_211 }
        while i < count { h = (h ^ UInt64(x[i].bitPattern)) &* 1_099_511_628_211; i += 1 }
        return h
    }

    static func combine(_ partial: [UInt64]) -> String {
        String(partial.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ $1) &* 1_099_511_628_211 }, radix: 16)
    }

    /// `fingerprint()` of the arena `specs` would hold once loaded from `files`, computed one
    /// chunk at a time: a pipeline stage that holds only part of the model can still name the base
    /// of its run without the whole model resident (at most one chunk of 4 MB is).
    public static func fingerprint(specs: [ParameterSpec], files: [SafeTensorsFile]) throws -> String {
        let arena = ParameterArena(specs: specs, touch: false)
        let chunk = fingerprintChunk, count = arena.count
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var partial: [UInt64] = []
        var slotIndex = 0
        for lo in stride(from: 0, to: count, by: chunk) {
            let hi = Swift.min(count, lo + chunk)
            while slotIndex < arena.slots.count, arena.slots[slotIndex].offset + arena.slots[slotIndex].count <= lo { slotIndex += 1 }
            var s = slotIndex
            while s < arena.slots.count, arena.slots[s].offset < hi {
                let slot = arena.slots[s]
                let a = Swift.max(lo, slot.offset), b = Swift.min(hi, slot.offset + slot.count)
                if a < b {
                    guard let file = files.first(where: { $0.tensorNames.contains(slot.name) }) else {
                        throw WeightsError(.missingTensor, "missing tensor \"\(slot.name)\" in " + files.map(\.path).joined(separator: ", "))
                    }
                    try file.readElements(slot.name, (a - slot.offset)..<(b - slot.offset), into: arena.storage + a)
                }
                s += 1
            }
            partial.append(chunkHash(arena.storage + lo, count: hi - lo))
            // Drop the chunk's whole pages (they read back as zeros, as untouched pages do).
            let start = Int(bitPattern: arena.storage + lo), end = Int(bitPattern: arena.storage + hi)
            let first = (start + page - 1) / page * page, last = end / page * page
            if last > first { _ = madvise(UnsafeMutableRawPointer(bitPattern: first), last - first, Int32(MADV_DONTNEED)) }
        }
        return combine(partial)
    }
}
