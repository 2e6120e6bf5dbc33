import Cluster
import Foundation
import Models
import Weights

/// Which blocks pipeline rank `rank` of `ranks` runs: a contiguous, near-equal share.
public struct PipelineStage: Sendable {
    public let rank: Int
    public let ranks: Int
    public let layers: Range<Int>
    public var isFirst: Bool { rank == 0 }
    public var isLast: Bool { rank == ranks - 1 }

    public init(rank: Int, ranks: Int, layerCount: Int) throws {
        guard ranks <= layerCount else {
            throw ClusterError("--distributed pipeline over \(ranks) ranks needs at least as many blocks; the model has \(layerCount)")
        }
        (self.rank, self.ranks) = (rank, ranks)
        layers = (layerCount * rank / ranks)..<(layerCount * (rank + 1) / ranks)
    }
}

/// One pipeline stage's model: the whole arena's layout (so every element keeps its global
/// position, which is what MeZO's z is indexed by), of which only the stage's part is ever
/// written and so resident: its blocks; the final norm (and an untied head) on the last stage;
/// on the first stage the token-embedding rows the batches have read so far, loaded on first use
/// (an unread row still holds its base value, so loading it late is exact); with a tied head, the
/// last stage keeps its own copy of the label words' rows and perturbs it with the same z.
public final class PipelineModel {
    public let model: DecoderModel
    public let stage: PipelineStage
    let files: [SafeTensorsFile]
    let embeddingSlot: ParameterSlot
    /// Embedding rows materialised so far.
    private var loaded: [Bool]
    /// The embedding rows the last stage holds (the tied head's label words).
    private(set) var headRows: [Int32] = []

    public init(directory: String, stage: PipelineStage) throws {
        let config = try DecoderConfig.load(directory: directory)
        files = try ModelLoader.weightFiles(directory: directory).map { try SafeTensorsFile(path: $0) }
        let arena = DecoderModel.makeArena(config: config, touch: false)
        var names = DecoderModel.layerParameterNames(config: config, layers: stage.layers)
        if stage.isLast {
            names.append(DecoderModel.finalNormName)
            if !config.tieWordEmbeddings { names.append(DecoderModel.outputHeadName) }
        }
        try arena.load(names, from: files)
        model = try DecoderModel(config: config, arena: arena)
        self.stage = stage
        embeddingSlot = arena.slot(DecoderModel.embeddingName)!
        loaded = [Bool](repeating: false, count: config.vocabSize)
    }

    /// The last stage of a tied model reads these rows of the embedding for its head.
    public func holdHeadRows(_ rows: [Int32]) throws {
        guard stage.isLast, model.config.tieWordEmbeddings else { return }
        headRows = Array(Set(rows)).sorted()
        try load(rows: headRows)
    }

    /// Makes the first stage's embedding rows `rows` resident (nil: every row).
    public func ensureEmbeddingRows(_ rows: [Int32]?) throws {
        guard stage.isFirst else { return }
        try load(rows: rows ?? (0..<Int32(loaded.count)).map { $0 })
    }

    private func load(rows: [Int32]) throws {
        let missing = rows.map(Int.init).filter { !loaded[$0] }
        guard !missing.isEmpty else { return }
        let C = embeddingSlot.shape[1], base = model.arena.pointer(embeddingSlot)
        let file = files.first { $0.tensorNames.contains(DecoderModel.embeddingName) }!
        try file.readRows(DecoderModel.embeddingName, missing) { base + $0 * C }
        for r in missing { loaded[r] = true }
    }

    /// The arena elements this stage holds, sorted and disjoint: MeZO touches only these.
    public var owned: [Range<Int>] {
        let arena = model.arena
        var out: [Range<Int>] = []
        let C = embeddingSlot.shape[1]
        if stage.isFirst { out.append(embeddingSlot.offset..<(embeddingSlot.offset + embeddingSlot.count)) }
        else { out += headRows.map { embeddingSlot.offset + Int($0) * C..<(embeddingSlot.offset + (Int($0) + 1) * C) } }
        var names = Set(DecoderModel.layerParameterNames(config: model.config, layers: stage.layers))
        if stage.isLast {
            names.insert(DecoderModel.finalNormName)
            if !model.config.tieWordEmbeddings { names.insert(DecoderModel.outputHeadName) }
        }
        out += arena.slots.filter { names.contains($0.name) }.map { $0.offset..<($0.offset + $0.count) }
        out.sort { $0.lowerBound < $1.lowerBound }
        return out
    }

    /// The base weights' fingerprint (as `ParameterArena.fingerprint`), streamed from the files.
    public func baseFingerprint() throws -> String {
        try ParameterArena.fingerprint(specs: DecoderModel.specs(config: model.config), files: files)
    }
}
