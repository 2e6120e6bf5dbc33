/// XXH64 (Yann Collet's xxHash, 64-bit variant; reference: Cyan4973/xxHash, `xxhash.h`,
/// XXH64_round / XXH64_mergeRound / XXH64_avalanche). Used as the checksum of a snapshot's data
/// section: fast enough to hash a 1 GB snapshot in a fraction of a second, and any torn or
/// flipped byte changes it. Not a cryptographic hash: it guards against accidents, not attacks.
public enum XXH64 {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The hash of `bytes` with `seed`.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var state = State(seed: seed)
        state.update(bytes)
        return state.digest()
    }

    /// Streaming state: feed the bytes in any number of pieces, the digest is that of their concatenation.
    public struct State {
        var v1, v2, v3, v4: UInt64
        let seed: UInt64
        var total = 0
        var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)   // up to 31 pending bytes
        var buffered = 0

        public init(seed: UInt64 = 0) {
            self.seed = seed
            v1 = seed &+ XXH64.p1 &+ XXH64.p2
            v2 = seed &+ XXH64.p2
            v3 = seed
            v4 = seed &- XXH64.p1
        }

        @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
            var acc = acc &+ input &* XXH64.p2
            acc = (acc << 31) | (acc >> 33)
            return acc &* XXH64.p1
        }

        @inline(__always) static func merge(_ acc: UInt64, _ val: UInt64) -> UInt64 {
            let acc = acc ^ round(0, val)
            return acc &* XXH64.p1 &+ XXH64.p4
        }

        public mutating func update(_ bytes: UnsafeRawBufferPointer) {
            guard var p = bytes.baseAddress, bytes.count > 0 else { return }
            var n = bytes.count
            total += n
            // Complete a pending 32-byte stripe first.
            if buffered > 0 {
                let take = min(32 - buffered, n)
                withUnsafeMutableBytes(of: &buffer) { b in
                    b.baseAddress!.advanced(by: buffered).copyMemory(from: p, byteCount: take)
                }
                buffered += take
                p += take
                n -= take
                guard buffered == 32 else { return }
                consumeStripe(withUnsafeBytes(of: &buffer) { UnsafeRawPointer($0.baseAddress!) })
                buffered = 0
            }
            while n >= 32 {
                consumeStripe(p)
                p += 32
                n -= 32
            }
            if n > 0 {
                withUnsafeMutableBytes(of: &buffer) { b in b.baseAddress!.copyMemory(from: p, byteCount: n) }
                buffered = n
            }
        }

        @inline(__always) mutating func consumeStripe(_ p: UnsafeRawPointer) {
            v1 = Self.round(v1, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt64.self)))
            v2 = Self.round(v2, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            v3 = Self.round(v3, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            v4 = Self.round(v4, UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        }

        public func digest() -> UInt64 {
            var h: UInt64
            if total >= 32 {
                h = ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57)) &+ ((v3 << 12) | (v3 >> 52)) &+ ((v4 << 18) | (v4 >> 46))
                h = Self.merge(h, v1)
                h = Self.merge(h, v2)
                h = Self.merge(h, v3)
                h = Self.merge(h, v4)
            } else {
                h = seed &+ XXH64.p5
            }
            h = h &+ UInt64(total)
            var tail = buffer
            let count = buffered
            return withUnsafeBytes(of: &tail) { b -> UInt64 in
                var p = b.baseAddress!
                var n = count
                while n >= 8 {
                    let k = Self.round(0, UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
                    h ^= k
                    h = ((h << 27) | (h >> 37)) &* XXH64.p1 &+ XXH64.p4
                    p += 8
                    n -= 8
                }
                if n >= 4 {
                    h ^= UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))) &* XXH64.p1
                    h = ((h << 23) | (h >> 41)) &* XXH64.p2 &+ XXH64.p3
                    p += 4
                    n -= 4
                }
                while n > 0 {
                    h ^= UInt64(p.load(as: UInt8.self)) &* XXH64.p5
                    h = ((h << 11) | (h >> 53)) &* XXH64.p1
                    p += 1
                    n -= 1
                }
                h ^= h >> 33
                h = h &* XXH64.p2
                h ^= h >> 29
                h = h &* XXH64.p3
                h ^= h >> 32
                return h
            }
        }
    }
}
