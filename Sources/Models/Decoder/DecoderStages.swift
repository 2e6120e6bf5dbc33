import Foundation
import Tensors
import Weights

/// A decoder cut into pipeline stages: stage s runs a contiguous range of blocks on the residual
/// stream it receives from stage s − 1 (stage 0 embeds the tokens itself) and hands its stream on;
/// the last stage also applies the final norm. Run stage by stage over the same batch, this is
/// `forward(_:workspace:outputs:)` operation for operation, so the bits are the same.
extension DecoderModel {
    /// The residual stream a stage receives and sends.   (tokens, C)
    public func residualStream(_ ws: DecoderWorkspace) -> UnsafeMutablePointer<Float> { ws.x }

    /// Runs blocks `layers` on `batch`. The stream must already hold the previous stage's output
    /// unless `layers` starts at block 0 (then the tokens are embedded here).
    /// - Returns: for the last stage, the final-normed hidden states of the requested rows and
    ///   their count (as `forward`); for any other stage, the stream and the batch's token count.
    public func forwardStage(_ batch: PackedBatch, layers: Range<Int>, workspace ws: DecoderWorkspace,
                             outputs: Outputs) -> (hidden: UnsafeMutablePointer<Float>, rows: Int) {
        let c = config
        let N = batch.tokenCount
        precondition(N <= ws.maxTokens, "batch of \(N) tokens exceeds the workspace (\(ws.maxTokens))")
        precondition(layers.lowerBound >= 0 && layers.upperBound <= c.layers, "stage layers \(layers) outside 0..<\(c.layers)")
        precondition(batch.lengths.allSatisfy { $0 <= maxPositions }, "sequence longer than \(maxPositions)")
        if layers.lowerBound == 0 { embed(batch.tokens, into: ws.x) }
        var positions = [Int](repeating: 0, count: N)   // (N) position of each row in its sequence
        for (s, start) in batch.starts.enumerated() {
            for i in 0..<batch.lengths[s] { positions[start + i] = i }
        }
        var rows = N
        for l in layers {
            let compact = outputs == .lastTokenOfEachSequence && l == c.layers - 1
            rows = block(l, batch: batch, positions: positions, compactToLastTokens: compact,
                         workspace: ws, cache: nil, sharedPrefix: nil)
        }
        guard layers.upperBound == c.layers else { return (ws.x, N) }
        rmsNormForward(ws.xn, ws.x, finalNorm, rows: rows, dim: c.hiddenSize, eps: c.rmsNormEps, offset: c.normOffset)
        return (ws.xn, rows)
    }

    /// The parameter names of blocks `layers`, in arena order.
    public static func layerParameterNames(config: DecoderConfig, layers: Range<Int>) -> [String] {
        let prefixes = layers.map { "model.layers.\($0)." }
        return DecoderLayout.specs(config).map(\.name).filter { name in prefixes.contains { name.hasPrefix($0) } }
    }

    /// Names of the embedding, final norm and untied output head (arena order: first, last, last).
    public static var embeddingName: String { DecoderLayout.embedding }
    public static var finalNormName: String { DecoderLayout.finalNorm }
    public static var outputHeadName: String { DecoderLayout.outputHead }
}
