import Models
import Weights

/// A tiny random model of Tests/Fixtures (tools/fixtures/make_fixtures.py) with its reference batch.
public struct TinyFixture {
    public let model: DecoderModel
    /// The reference batch, right-padded (B, T) in the file, packed here.
    public let batch: PackedBatch
    /// reference.safetensors: input_ids, attention_mask, logits (B, T, V), loss, ...
    public let reference: SafeTensorsFile
    /// Padded length T of the reference tensors.
    public let paddedLength: Int

    public init(_ name: String) throws {
        let dir = Repo.fixture(name)
        model = try ModelLoader.loadDecoder(directory: dir)
        reference = try SafeTensorsFile(path: dir + "/reference.safetensors")
        let ids = try reference.floats("input_ids"), mask = try reference.floats("attention_mask")
        let shape = try reference.info("input_ids").shape   // (B, T)
        let (B, T) = (shape[0], shape[1])
        let rows = (0..<B).map { b in (0..<T).map { Int32(ids[b * T + $0]) } }
        let masks = (0..<B).map { b in (0..<T).map { Int32(mask[b * T + $0]) } }
        batch = try PackedBatch(paddedIDs: rows, mask: masks)
        paddedLength = T
    }
}
