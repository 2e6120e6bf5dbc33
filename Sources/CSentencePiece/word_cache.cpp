// Exact word-level cache for SentencePiece BPE; see word_cache.hpp for why it gives the same ids.

#include "word_cache.hpp"

#include <mutex>

namespace zf {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // "▁" U+2581

// The few ModelProto settings that decide whether splitting is exact. Read straight from the
// serialized proto because the Debian package does not install sentencepiece_model.pb.h.
// Defaults are the proto2 defaults of sentencepiece_model.proto.
struct ModelSpec {
    bool parsed = false;
    uint64_t model_type = 1;  // TrainerSpec.model_type (3): UNIGRAM=1, BPE=2
    bool treat_whitespace_as_suffix = false;  // TrainerSpec (24)
    bool has_charsmap = false;               // NormalizerSpec.precompiled_charsmap (2)
    bool add_dummy_prefix = true;            // NormalizerSpec (3)
    bool remove_extra_whitespaces = true;    // NormalizerSpec (4)
    bool escape_whitespaces = true;          // NormalizerSpec (5)
};

// Minimal protobuf wire-format reader: varints, length-delimited fields, fixed32/64.
class Wire {
 public:
    explicit Wire(std::string_view data)
        : p_(reinterpret_cast<const unsigned char *>(data.data())), end_(p_ + data.size()) {}

    bool failed() const { return failed_; }

    // Reads the next field key; false at the end or on malformed input.
    bool Next(uint32_t *field, uint32_t *wire) {
        if (failed_ || p_ >= end_) return false;
        const uint64_t key = Varint();
        *field = static_cast<uint32_t>(key >> 3);
        *wire = static_cast<uint32_t>(key & 7);
        return !failed_;
    }

    uint64_t Varint() {
        uint64_t value = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p_ >= end_) break;
            const unsigned char byte = *p_++;
            value |= static_cast<uint64_t>(byte & 0x7F) << shift;
            if ((byte & 0x80) == 0) return value;
        }
        failed_ = true;
        return 0;
    }

    std::string_view Bytes() {
        const uint64_t size = Varint();
        if (failed_ || size > static_cast<uint64_t>(end_ - p_)) {
            failed_ = true;
            return {};
        }
        std::string_view value(reinterpret_cast<const char *>(p_), size);
        p_ += size;
        return value;
    }

    void Skip(uint32_t wire) {
        switch (wire) {
            case 0: Varint(); break;
            case 1: Advance(8); break;
            case 2: Bytes(); break;
            case 5: Advance(4); break;
            default: failed_ = true;  // groups (3, 4) do not occur in ModelProto
        }
    }

 private:
    void Advance(size_t n) {
        if (static_cast<size_t>(end_ - p_) < n) {
            failed_ = true;
        } else {
            p_ += n;
        }
    }

    const unsigned char *p_;
    const unsigned char *end_;
    bool failed_ = false;
};

ModelSpec ReadSpec(std::string_view model_proto) {
    ModelSpec spec;
    Wire model(model_proto);
    uint32_t field, wire;
    while (model.Next(&field, &wire)) {
        if (field == 2 && wire == 2) {  // trainer_spec
            Wire trainer(model.Bytes());
            while (trainer.Next(&field, &wire)) {
                if (field == 3 && wire == 0) {
                    spec.model_type = trainer.Varint();
                } else if (field == 24 && wire == 0) {
                    spec.treat_whitespace_as_suffix = trainer.Varint() != 0;
                } else {
                    trainer.Skip(wire);
                }
            }
            if (trainer.failed()) return spec;
        } else if (field == 3 && wire == 2) {  // normalizer_spec
            Wire normalizer(model.Bytes());
            while (normalizer.Next(&field, &wire)) {
                if (field == 2 && wire == 2) {
                    spec.has_charsmap = !normalizer.Bytes().empty();
                } else if (field == 3 && wire == 0) {
                    spec.add_dummy_prefix = normalizer.Varint() != 0;
                } else if (field == 4 && wire == 0) {
                    spec.remove_extra_whitespaces = normalizer.Varint() != 0;
                } else if (field == 5 && wire == 0) {
                    spec.escape_whitespaces = normalizer.Varint() != 0;
                } else {
                    normalizer.Skip(wire);
                }
            }
            if (normalizer.failed()) return spec;
        } else {
            model.Skip(wire);
        }
    }
    spec.parsed = !model.failed();
    return spec;
}

// Whether `text` is well-formed UTF-8. sentencepiece's normaliser turns each malformed byte into
// U+FFFD (3 bytes), which would shift the normalised offsets computed here; such text is
// encoded whole instead.
bool IsValidUTF8(std::string_view text) {
    const auto *p = reinterpret_cast<const unsigned char *>(text.data());
    const auto *end = p + text.size();
    while (p < end) {
        const unsigned char lead = *p;
        size_t length;
        uint32_t minimum;
        if (lead < 0x80) {
            ++p;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            length = 2, minimum = 0x80;
        } else if ((lead & 0xF0) == 0xE0) {
            length = 3, minimum = 0x800;
        } else if ((lead & 0xF8) == 0xF0) {
            length = 4, minimum = 0x10000;
        } else {
            return false;
        }
        if (static_cast<size_t>(end - p) < length) return false;
        uint32_t scalar = lead & (0x7F >> length);
        for (size_t i = 1; i < length; ++i) {
            if ((p[i] & 0xC0) != 0x80) return false;
            scalar = (scalar << 6) | (p[i] & 0x3F);
        }
        if (scalar < minimum || scalar > 0x10FFFF || (scalar >= 0xD800 && scalar <= 0xDFFF)) return false;
        p += length;
    }
    return true;
}

// Start of the UTF-8 character that ends just before `end` (backs over at most 3
// continuation bytes, so malformed text cannot make it run away).
size_t CharacterStart(std::string_view text, size_t end) {
    size_t start = end - 1;
    for (int back = 0; back < 3 && start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80;
         ++back) {
        --start;
    }
    return start;
}

}  // namespace

uint32_t WordCache::CharacterKey(std::string_view character) {
    // A character is at most 4 bytes (CharacterStart backs over at most 3 continuation bytes) and
    // a UTF-8 lead byte fixes its length, so packing the bytes is exact for valid text.
    uint32_t key = 0;
    for (size_t i = 0; i < character.size() && i < 4; ++i) {
        key |= static_cast<uint32_t>(static_cast<unsigned char>(character[i])) << (8 * i);
    }
    return key;
}

std::unique_ptr<WordCache> WordCache::ForModel(const sentencepiece::SentencePieceProcessor &processor) {
    const ModelSpec spec = ReadSpec(processor.serialized_model_proto());
    if (!spec.parsed || spec.model_type != 2 || spec.treat_whitespace_as_suffix || spec.has_charsmap ||
        spec.add_dummy_prefix || spec.remove_extra_whitespaces || !spec.escape_whitespaces) {
        return nullptr;
    }
    if (processor.IsUnknown(processor.PieceToId(kSpaceSymbol))) return nullptr;

    std::unique_ptr<WordCache> cache(new WordCache());
    const int size = processor.GetPieceSize();
    for (int id = 0; id < size; ++id) {
        if (processor.IsUnused(id)) return nullptr;
        // Control, unknown and byte pieces are never matched against text.
        if (processor.IsControl(id) || processor.IsUnknown(id) || processor.IsByte(id)) continue;
        const std::string &piece = processor.IdToPiece(id);
        if (piece.find(' ') != std::string::npos) return nullptr;
        for (size_t at = piece.find(kSpaceSymbol, 1); at != std::string::npos;
             at = piece.find(kSpaceSymbol, at + 1)) {
            const size_t before = CharacterStart(piece, at);
            const std::string_view character(piece.data() + before, at - before);
            if (character == kSpaceSymbol) continue;  // inside a run of "▁": not a split point
            cache->spanning_[CharacterKey(character)].push_back({piece, at});
        }
    }
    return cache;
}

bool WordCache::CanSplit(std::string_view before, std::string_view normalized, size_t normalized_at) const {
    const auto found = spanning_.find(CharacterKey(before));
    if (found == spanning_.end()) return true;
    for (const SpanningPiece &spanning : found->second) {
        if (spanning.offset > normalized_at) continue;
        const size_t start = normalized_at - spanning.offset;
        if (start + spanning.piece.size() <= normalized.size() &&
            normalized.compare(start, spanning.piece.size(), spanning.piece) == 0) {
            return false;
        }
    }
    return true;
}

sentencepiece::util::Status WordCache::Encode(const sentencepiece::SentencePieceProcessor &processor,
                                              std::string_view text, std::vector<int> *ids) const {
    ids->clear();
    if (!IsValidUTF8(text)) return processor.Encode(text, ids);
    std::string normalized;  // built on first need: only when a spanning piece could apply
    size_t word_start = 0;
    size_t spaces_before = 0;  // raw ' ' in text[0, i): each becomes 3 bytes when normalised
    for (size_t i = 1; i < text.size(); ++i) {
        if (text[i - 1] == ' ') ++spaces_before;
        if (text[i] != ' ') continue;
        const size_t before = CharacterStart(text, i);
        const std::string_view character = text.substr(before, i - before);
        if (character == " " || character == kSpaceSymbol) continue;  // keep "▁" runs together
        if (!spanning_.empty() && spanning_.count(CharacterKey(character)) != 0) {
            if (normalized.empty()) {
                normalized.reserve(text.size() + 2 * text.size() / 4);
                for (char c : text) {
                    if (c == ' ') {
                        normalized.append(kSpaceSymbol);
                    } else {
                        normalized.push_back(c);
                    }
                }
            }
            if (!CanSplit(character, normalized, i + 2 * spaces_before)) continue;
        }
        sentencepiece::util::Status status =
            EncodeWord(processor, text.substr(word_start, i - word_start), ids);
        if (!status.ok()) return status;
        word_start = i;
    }
    if (word_start < text.size()) return EncodeWord(processor, text.substr(word_start), ids);
    return sentencepiece::util::Status();
}

sentencepiece::util::Status WordCache::EncodeWord(const sentencepiece::SentencePieceProcessor &processor,
                                                  std::string_view word, std::vector<int> *ids) const {
    const bool cacheable = word.size() <= kMaxWordBytes;
    if (cacheable) {
        std::shared_lock<std::shared_mutex> lock(mutex_);
        const auto found = cache_.find(word);
        if (found != cache_.end()) {
            ids->insert(ids->end(), found->second.begin(), found->second.end());
            return sentencepiece::util::Status();
        }
    }
    std::vector<int> word_ids;
    sentencepiece::util::Status status = processor.Encode(word, &word_ids);
    if (!status.ok()) return status;
    ids->insert(ids->end(), word_ids.begin(), word_ids.end());
    if (cacheable) {
        std::unique_lock<std::shared_mutex> lock(mutex_);
        if (cache_.size() < kMaxWords && cache_.find(word) == cache_.end()) {
            words_.emplace_back(word);
            cache_.emplace(std::string_view(words_.back()), std::move(word_ids));
        }
    }
    return sentencepiece::util::Status();
}

}  // namespace zf
