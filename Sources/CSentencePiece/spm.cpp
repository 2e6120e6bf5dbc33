// C API over sentencepiece::SentencePieceProcessor; see include/zf_sentencepiece.h for the contract.
//
// Every entry point is wrapped in `guarded(...)` so no C++ exception escapes into C or Swift, and
// every id is bounds-checked here because sentencepiece's IdToPiece/IsControl/... index the model
// proto without checking (an out-of-range id is undefined behaviour there, not an error).

#include "zf_sentencepiece.h"

#include <sentencepiece_processor.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "word_cache.hpp"

static_assert(sizeof(int) == sizeof(int32_t), "sentencepiece ids are int; we expose int32_t");

struct zf_spm_processor {
    sentencepiece::SentencePieceProcessor sp;
    int32_t vocab_size = 0;  // cached: checked on every id passed in
    std::unique_ptr<zf::WordCache> word_cache;  // null when not provably exact for this model
    std::atomic<bool> use_word_cache{false};

    bool valid_id(int32_t id) const { return id >= 0 && id < vocab_size; }
};

namespace {

// Per-thread so that concurrent encoders never overwrite each other's message.
thread_local std::string last_message;

zf_spm_status fail(zf_spm_status code, std::string message) {
    // Assigning can itself throw bad_alloc; callers are inside guarded(), which handles that.
    last_message = std::move(message);
    return code;
}

zf_spm_status from_status(const sentencepiece::util::Status &status, const char *context) {
    if (status.ok()) return ZF_SPM_OK;
    std::string message = context;
    message += ": ";
    message += status.error_message();
    return fail(static_cast<zf_spm_status>(status.code()), std::move(message));
}

// Runs `body`, turning any exception into a status with a message.
template <typename Body>
zf_spm_status guarded(const char *context, Body &&body) noexcept {
    try {
        return body();
    } catch (const std::bad_alloc &) {
        last_message.clear();  // cannot safely allocate a message here
        return ZF_SPM_RESOURCE_EXHAUSTED;
    } catch (const std::exception &e) {
        try {
            return fail(ZF_SPM_INTERNAL, std::string(context) + ": " + e.what());
        } catch (...) {
            return ZF_SPM_INTERNAL;
        }
    } catch (...) {
        try {
            return fail(ZF_SPM_INTERNAL, std::string(context) + ": unknown C++ exception");
        } catch (...) {
            return ZF_SPM_INTERNAL;
        }
    }
}

zf_spm_status null_argument(const char *context) {
    return fail(ZF_SPM_INVALID_ARGUMENT, std::string(context) + ": NULL argument");
}

zf_spm_status bad_id(const char *context, int32_t id, int32_t vocab_size) {
    return fail(ZF_SPM_OUT_OF_RANGE, std::string(context) + ": id " + std::to_string(id) +
                                         " outside vocabulary [0, " + std::to_string(vocab_size) +
                                         ")");
}

// For the bool/int accessors, which have no status to report: any exception reads as "false"/-1.
template <typename T, typename Body>
T quietly(T fallback, Body &&body) noexcept {
    try {
        return body();
    } catch (...) {
        return fallback;
    }
}

}  // namespace

extern "C" {

const char *zf_spm_status_message(void) { return last_message.c_str(); }

zf_spm_status zf_spm_load(const char *path, zf_spm_processor **out) {
    if (out != nullptr) *out = nullptr;
    return guarded("zf_spm_load", [&]() -> zf_spm_status {
        if (path == nullptr || out == nullptr) return null_argument("zf_spm_load");
        auto processor = std::make_unique<zf_spm_processor>();  // freed on any early return or throw
        zf_spm_status code = from_status(processor->sp.Load(path), path);
        if (code != ZF_SPM_OK) return code;
        processor->vocab_size = processor->sp.GetPieceSize();
        if (processor->vocab_size <= 0) {
            return fail(ZF_SPM_DATA_LOSS, std::string(path) + ": model has an empty vocabulary");
        }
        processor->word_cache = zf::WordCache::ForModel(processor->sp);
        processor->use_word_cache = processor->word_cache != nullptr;
        *out = processor.release();
        return ZF_SPM_OK;
    });
}

void zf_spm_free(zf_spm_processor *processor) {
    quietly(0, [&] {
        delete processor;
        return 0;
    });
}

zf_spm_status zf_spm_encode(const zf_spm_processor *processor, const char *text, size_t len,
                            int32_t *ids, size_t capacity, size_t *count) {
    if (count != nullptr) *count = 0;
    return guarded("zf_spm_encode", [&]() -> zf_spm_status {
        if (processor == nullptr || count == nullptr || (text == nullptr && len > 0) ||
            (ids == nullptr && capacity > 0)) {
            return null_argument("zf_spm_encode");
        }
        std::vector<int> result;
        std::string_view input(text == nullptr ? "" : text, len);
        const bool cached =
            processor->word_cache != nullptr && processor->use_word_cache.load(std::memory_order_relaxed);
        zf_spm_status code = from_status(
            cached ? processor->word_cache->Encode(processor->sp, input, &result) : processor->sp.Encode(input, &result),
            "zf_spm_encode");
        if (code != ZF_SPM_OK) return code;
        *count = result.size();
        if (result.size() > capacity) {
            return fail(ZF_SPM_BUFFER_TOO_SMALL,
                        "zf_spm_encode: " + std::to_string(result.size()) +
                            " ids do not fit a buffer of " + std::to_string(capacity));
        }
        if (!result.empty()) std::memcpy(ids, result.data(), result.size() * sizeof(int32_t));
        return ZF_SPM_OK;
    });
}

zf_spm_status zf_spm_decode(const zf_spm_processor *processor, const int32_t *ids, size_t count,
                            char **out, size_t *out_len) {
    if (out != nullptr) *out = nullptr;
    if (out_len != nullptr) *out_len = 0;
    return guarded("zf_spm_decode", [&]() -> zf_spm_status {
        if (processor == nullptr || out == nullptr || out_len == nullptr ||
            (ids == nullptr && count > 0)) {
            return null_argument("zf_spm_decode");
        }
        std::vector<int> input(count);
        for (size_t i = 0; i < count; ++i) {
            if (!processor->valid_id(ids[i])) {
                return bad_id("zf_spm_decode", ids[i], processor->vocab_size);
            }
            input[i] = ids[i];
        }
        std::string text;
        zf_spm_status code = from_status(processor->sp.Decode(input, &text), "zf_spm_decode");
        if (code != ZF_SPM_OK) return code;
        char *buffer = static_cast<char *>(std::malloc(text.size() + 1));
        if (buffer == nullptr) return ZF_SPM_RESOURCE_EXHAUSTED;
        std::memcpy(buffer, text.data(), text.size());
        buffer[text.size()] = '\0';
        *out = buffer;
        *out_len = text.size();
        return ZF_SPM_OK;
    });
}

void zf_spm_string_free(char *string) { std::free(string); }

zf_spm_status zf_spm_piece_to_id(const zf_spm_processor *processor, const char *piece, size_t len,
                                 int32_t *id) {
    if (id != nullptr) *id = -1;
    return guarded("zf_spm_piece_to_id", [&]() -> zf_spm_status {
        if (processor == nullptr || id == nullptr || (piece == nullptr && len > 0)) {
            return null_argument("zf_spm_piece_to_id");
        }
        std::string_view wanted(piece == nullptr ? "" : piece, len);
        const int found = processor->sp.PieceToId(wanted);
        // sentencepiece answers unk_id for any piece it does not know; tell the two apart.
        if (!processor->valid_id(found) ||
            (processor->sp.IsUnknown(found) && processor->sp.IdToPiece(found) != wanted)) {
            return fail(ZF_SPM_NOT_FOUND,
                        "zf_spm_piece_to_id: piece '" + std::string(wanted) + "' not in vocabulary");
        }
        *id = found;
        return ZF_SPM_OK;
    });
}

zf_spm_status zf_spm_id_to_piece(const zf_spm_processor *processor, int32_t id, char *buffer,
                                 size_t capacity, size_t *len) {
    if (len != nullptr) *len = 0;
    return guarded("zf_spm_id_to_piece", [&]() -> zf_spm_status {
        if (processor == nullptr || len == nullptr || (buffer == nullptr && capacity > 0)) {
            return null_argument("zf_spm_id_to_piece");
        }
        if (!processor->valid_id(id)) return bad_id("zf_spm_id_to_piece", id, processor->vocab_size);
        const std::string &piece = processor->sp.IdToPiece(id);
        *len = piece.size();
        if (capacity < piece.size() + 1) {
            return fail(ZF_SPM_BUFFER_TOO_SMALL,
                        "zf_spm_id_to_piece: piece of " + std::to_string(piece.size()) +
                            " bytes does not fit a buffer of " + std::to_string(capacity));
        }
        std::memcpy(buffer, piece.data(), piece.size());
        buffer[piece.size()] = '\0';
        return ZF_SPM_OK;
    });
}

int zf_spm_word_cache_supported(const zf_spm_processor *processor) {
    return processor != nullptr && processor->word_cache != nullptr ? 1 : 0;
}

int zf_spm_word_cache_enabled(const zf_spm_processor *processor) {
    return processor != nullptr && processor->word_cache != nullptr &&
                   processor->use_word_cache.load(std::memory_order_relaxed)
               ? 1
               : 0;
}

int zf_spm_set_word_cache(zf_spm_processor *processor, int enabled) {
    if (processor == nullptr || processor->word_cache == nullptr) return 0;
    processor->use_word_cache.store(enabled != 0, std::memory_order_relaxed);
    return enabled != 0 ? 1 : 0;
}

int32_t zf_spm_vocab_size(const zf_spm_processor *processor) {
    return processor == nullptr ? 0 : processor->vocab_size;
}

int32_t zf_spm_bos_id(const zf_spm_processor *processor) {
    return quietly<int32_t>(-1, [&] { return processor == nullptr ? -1 : processor->sp.bos_id(); });
}

int32_t zf_spm_eos_id(const zf_spm_processor *processor) {
    return quietly<int32_t>(-1, [&] { return processor == nullptr ? -1 : processor->sp.eos_id(); });
}

int32_t zf_spm_pad_id(const zf_spm_processor *processor) {
    return quietly<int32_t>(-1, [&] { return processor == nullptr ? -1 : processor->sp.pad_id(); });
}

int32_t zf_spm_unk_id(const zf_spm_processor *processor) {
    return quietly<int32_t>(-1, [&] { return processor == nullptr ? -1 : processor->sp.unk_id(); });
}

int zf_spm_is_control(const zf_spm_processor *processor, int32_t id) {
    return quietly(0, [&] {
        return processor != nullptr && processor->valid_id(id) && processor->sp.IsControl(id) ? 1 : 0;
    });
}

int zf_spm_is_unknown(const zf_spm_processor *processor, int32_t id) {
    return quietly(0, [&] {
        return processor != nullptr && processor->valid_id(id) && processor->sp.IsUnknown(id) ? 1 : 0;
    });
}

int zf_spm_is_byte(const zf_spm_processor *processor, int32_t id) {
    return quietly(0, [&] {
        return processor != nullptr && processor->valid_id(id) && processor->sp.IsByte(id) ? 1 : 0;
    });
}

float zf_spm_score(const zf_spm_processor *processor, int32_t id) {
    return quietly(0.0f, [&] {
        return processor != nullptr && processor->valid_id(id) ? processor->sp.GetScore(id) : 0.0f;
    });
}

int zf_spm_is_unused(const zf_spm_processor *processor, int32_t id) {
    return quietly(0, [&] {
        return processor != nullptr && processor->valid_id(id) && processor->sp.IsUnused(id) ? 1 : 0;
    });
}

}  // extern "C"
