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
    /// The slot's first element in the arena's logical order: the index z is drawn at.
    public let offset: Int
    /// Where the slot's elements are stored: in `halves` when `isHalf`, else in `storage`. For an
    /// f32 arena the same as `offset`.
    public let storageOffset: Int
    /// Stored as bf16 bits (matrices and embeddings of a bf16 arena).
    public let isHalf: Bool
    public var name: String { spec.name }
    public var shape: [Int] { spec.shape }
    public var role: ParameterRole { spec.role }
    public var count: Int { spec.shape.reduce(1, *) }
}

/// Every trainable parameter of a model in one contiguous Float buffer (docs/ARCHITECTURE.md, decision 1), in
/// the order the model declares them, each slot starting on a 64-byte boundary. MeZO's perturbation
/// and update are single loops over `storage`; gradients and optimizer moments reuse the layout.
/// The few alignment gaps are zero-initialised and never read by the model.
///
/// A bf16 arena (`format == .bf16`, docs/weights-16bit.md) keeps the logical layout (`offset`,
/// `count`: z is drawn at the same indices as for f32) but stores the matrices and embeddings as
/// bf16 bits in `halves` and only the norm vectors and biases as floats in `storage`, both compact.
public final class ParameterArena: @unchecked Sendable {
    public let slots: [ParameterSlot]
    /// Elements in the logical layout, alignment gaps included (z's index space).
    public let count: Int
    /// The f32 elements: every slot of an f32 arena, the norms and biases of a bf16 one.   (floatCount)
    public let storage: UnsafeMutablePointer<Float>
    /// Floats in `storage` (== `count` for an f32 arena).
    public let floatCount: Int
    /// The bf16 elements of a bf16 arena (nil for f32).   (halfCount) bf16 bits
    public let halves: UnsafeMutablePointer<UInt16>?
    public let halfCount: Int
    public let format: WeightFormat
    /// Weights for a model; gradients and optimizer moments reuse the layout under their own tags.
    public let tag: MemoryTag
    private let slotIndex: [String: Int]
    /// A bf16 arena's f32 elements as the forward reads them: `storage`, plus ±εz while a
    /// `readPerturbation` is set (MeZO's no-write forwards). nil for f32.   (floatCount)
    public let readView: UnsafeMutablePointer<Float>?
    private var readViewIsStale = true

    static let alignment = 16  // floats = 64 bytes, one AVX-512 vector

    /// - Parameter touch: false for an arena of which only some slots will be filled (a pipeline
    ///   stage): its other pages are never made resident (`TaggedMemory.allocate`).
    /// - Parameter format: `.bf16` stores matrices and embeddings as bf16 (`.f16` is not an arena format).
    public convenience init(specs: [ParameterSpec], tag: MemoryTag = .weights, touch: Bool = true, format: WeightFormat = .f32) {
        do { try self.init(checking: specs, tag: tag, touch: touch, format: format) } catch { preconditionFailure("\(error)") }
    }

    /// The arena of shapes that come from input (a LoRA rank, a number of prefix tokens): a shape
    /// whose element count overflows Int, or an allocation the system refuses, is an error naming
    /// the tensor and the bytes asked for, not a trap.
    public init(checking specs: [ParameterSpec], tag: MemoryTag = .weights, touch: Bool = true,
                format: WeightFormat = .f32) throws {
        precondition(format != .f16, WeightFormat.f16Refusal)
        let layout = try Self.layout(specs, format: format)
        guard Set(specs.map(\.name)).count == specs.count else { throw WeightsError(.duplicateTensor, "duplicate parameter names") }
        self.slots = layout.slots
        self.count = layout.count
        self.tag = tag
        self.format = format
        floatCount = layout.floats
        halfCount = layout.halfs
        let what = specs.count == 1 ? "tensor \(specs[0].name) \(specs[0].shape)" : "\(specs.count) tensors (first \(specs.first?.name ?? "-"))"
        guard let storage = TaggedMemory.allocateIfPossible(floats: floatCount, tag: tag, touch: touch) else {
            throw WeightsError(.cannotAllocate, "cannot allocate \(floatCount * MemoryLayout<Float>.size) bytes for \(what)")
        }
        self.storage = storage
        if format == .bf16 {
            // Two bf16 per float of the tagged allocation, so the ledger counts their bytes.
            halves = UnsafeMutableRawPointer(TaggedMemory.allocate(floats: (layout.halfs + 1) / 2, tag: tag, touch: touch))
                .assumingMemoryBound(to: UInt16.self)
            readView = TaggedMemory.allocate(floats: floatCount, tag: tag, touch: touch)
        } else {
            halves = nil
            readView = nil
        }
        slotIndex = Dictionary(uniqueKeysWithValues: layout.slots.enumerated().map { ($1.name, $0) })
    }

    /// Slots at aligned offsets, the logical element count, and how many of them are stored as
    /// floats and as bf16, by checked arithmetic: the element count of every shape and of the whole
    /// arena, in bytes too, must fit in Int.
    static func layout(_ specs: [ParameterSpec], format: WeightFormat) throws
        -> (slots: [ParameterSlot], count: Int, floats: Int, halfs: Int) {
        var slots: [ParameterSlot] = []
        var offset = 0, floats = 0, halfs = 0
        for spec in specs {
            var n = 1
            for d in spec.shape {
                let (product, overflow) = n.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else {
                    throw WeightsError(.cannotAllocate, "tensor \(spec.name): shape \(spec.shape) has more elements than an Int holds")
                }
                n = product
            }
            let half = format == .bf16 && (spec.role == .matrix || spec.role == .embedding)
            slots.append(ParameterSlot(spec: spec, offset: offset, storageOffset: format == .f32 ? offset : (half ? halfs : floats),
                                       isHalf: half))
            let (end, overflow) = offset.addingReportingOverflow(n)
            guard !overflow, end <= Int.max / MemoryLayout<Float>.size - Self.alignment else {
                throw WeightsError(.cannotAllocate, "tensor \(spec.name) \(spec.shape): the parameters' bytes exceed what an Int holds")
            }
            let next = (end + Self.alignment - 1) / Self.alignment * Self.alignment
            if half { halfs += next - offset } else { floats += next - offset }
            offset = next
        }
        return (slots, offset, format == .f32 ? offset : floats, halfs)
    }

    deinit {
        TaggedMemory.free(storage, count: floatCount, tag: tag)
        if let halves {
            TaggedMemory.free(UnsafeMutableRawPointer(halves).assumingMemoryBound(to: Float.self), count: (halfCount + 1) / 2, tag: tag)
        }
        if let readView { TaggedMemory.free(readView, count: floatCount, tag: tag) }
    }

    /// A zeroed f32 arena with this one's layout, e.g. for gradients or optimizer moments.
    public func sameLayout(tag: MemoryTag) -> ParameterArena {
        ParameterArena(specs: slots.map(\.spec), tag: tag)
    }

    /// Bytes of the weights, alignment gaps included (bf16: the halves and the f32 part).
    public var byteCount: Int { floatCount * MemoryLayout<Float>.size + halfCount * 2 }

    /// Bytes an arena of `specs` in `format` allocates under its tag, as `init` allocates them:
    /// the f32 storage, and for bf16 the halves and the f32 read view. The memory plan predicts
    /// the weights from this, so `--weights bf16` is planned at 2 bytes a matrix element.
    public static func allocatedBytes(specs: [ParameterSpec], format: WeightFormat) throws -> Int {
        let layout = try layout(specs, format: format)
        let f = MemoryLayout<Float>.size
        return format == .bf16 ? 2 * layout.floats * f + (layout.halfs + 1) / 2 * f : layout.floats * f
    }

    /// The perturbation the forwards read the weights with (θ + scale·z; nil: θ itself), for a bf16
    /// arena, whose θ MeZO never writes between its two forwards (docs/weights-16bit.md).
    public var readPerturbation: ReadPerturbation? {
        didSet { readViewIsStale = true }
    }

    /// Says `storage` changed (an update, a load): the read view is refreshed before the next forward.
    public func weightsChanged() { readViewIsStale = true }

    /// Brings `readView` up to date (storage, + the read perturbation on its slots): a forward calls
    /// this first. Costs a copy of the norms and biases, a few hundred KB.
    public func refreshReadView() {
        guard let readView, readViewIsStale else { return }
        readView.update(from: storage, count: floatCount)
        if let p = readPerturbation {
            for slot in slots where !slot.isHalf {
                p.perturb(readView + slot.storageOffset, start: slot.offset, count: slot.count)
            }
        }
        readViewIsStale = false
    }

    /// The slot's bf16 bits (a bf16 arena's matrix or embedding).   (slot.count)
    public func halfPointer(_ slot: ParameterSlot) -> UnsafeMutablePointer<UInt16> {
        precondition(slot.isHalf, "\(slot.name) is not stored as bf16")
        return halves! + slot.storageOffset
    }

    /// The address that identifies a matrix to the model's products (and LoRA's adapters): the f32
    /// elements in an f32 arena; in a bf16 arena the address of its bf16 bits, which must then only
    /// be used as a key, never read as floats. For the norms and biases of a bf16 arena: `readView`.
    public func readAddress(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let s = slot(name) else { preconditionFailure("no parameter named \(name)") }
        if s.isHalf { return UnsafeMutableRawPointer(halves! + s.storageOffset).assumingMemoryBound(to: Float.self) }
        if let readView { return readView + s.storageOffset }
        return pointer(s)
    }

    /// Parameters proper (alignment gaps excluded).
    public var parameterCount: Int { slots.reduce(0) { $0 + $1.count } }

    public func slot(_ name: String) -> ParameterSlot? { slotIndex[name].map { slots[$0] } }

    /// The slot's f32 elements.   (slot.count)
    public func pointer(_ slot: ParameterSlot) -> UnsafeMutablePointer<Float> {
        precondition(!slot.isHalf, "\(slot.name) is stored as bf16: read it with halfPointer")
        return storage + slot.storageOffset
    }

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
            try read(slot, from: file)
        }
        weightsChanged()
        for (name, file) in owner where slotIndex[name] == nil && ignoring[name] == nil {
            throw WeightsError(.unexpectedTensor,
                "\(file.path): tensor \"\(name)\" is not a parameter of this model")
        }
    }
}

extension ParameterArena {
    /// One slot from its file: widened to f32, or for a bf16 slot copied (a BF16 tensor) or rounded
    /// to nearest even (an F32 one), its file pages released as it goes.
    func read(_ slot: ParameterSlot, from file: SafeTensorsFile) throws {
        if slot.isHalf {
            try file.readBF16(slot.name, into: halfPointer(slot), count: slot.count, expectedShape: slot.shape, releasePages: true)
        } else {
            try file.read(slot.name, into: buffer(slot), expectedShape: slot.shape, releasePages: true)
        }
    }

    /// Fills only the slots named `names` (a pipeline stage's part), each strictly as `load` does.
    public func load(_ names: [String], from files: [SafeTensorsFile]) throws {
        for name in names {
            guard let slot = slot(name) else { preconditionFailure("no parameter named \(name)") }
            guard let file = files.first(where: { $0.tensorNames.contains(name) }) else {
                throw WeightsError(.missingTensor, "missing tensor \"\(name)\" (shape \(slot.shape)) in "
                                   + files.map(\.path).joined(separator: ", "))
            }
            try read(slot, from: file)
        }
        weightsChanged()
    }

    /// A 64-bit fingerprint of every element's bits (hex), to tie a run's seed log to the exact
    /// base weights it started from. Chunks of fixed size are hashed in parallel and combined in
    /// order, so the value does not depend on the thread count.
    public func fingerprint(threads: Int = 2) -> String {
        guard let halves else { return Self.combine(chunkHashes(storage, count: count, threads: threads)) }
        // bf16: the f32 part, then the bf16 bits read two to a word (a zero pad when odd): never
        // equal to the f32 arena's fingerprint of the same model, as a run's base must not be.
        let words = UnsafeMutableRawPointer(halves).assumingMemoryBound(to: Float.self)
        return Self.combine(chunkHashes(storage, count: floatCount, threads: threads)
                            + chunkHashes(words, count: (halfCount + 1) / 2, threads: threads))
    }

    func chunkHashes(_ storage: UnsafeMutablePointer<Float>, count: Int, threads: Int) -> [UInt64] {
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
        return partial
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
