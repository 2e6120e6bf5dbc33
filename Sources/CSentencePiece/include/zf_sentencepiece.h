// C API over SentencePiece's C++ `sentencepiece::SentencePieceProcessor`.
//
// Conventions:
// - Every function that can fail returns a `zf_spm_status` (0 = ok). Codes 1...16 are
//   sentencepiece's `util::StatusCode` values unchanged; ZF_SPM_BUFFER_TOO_SMALL is ours.
// - After a failing call, `zf_spm_status_message()` returns a human-readable message for the
//   most recent failure *on the calling thread* (thread-local, so concurrent callers never see
//   each other's messages). It is valid until the next failing call on that thread.
// - No C++ exception crosses this boundary: every entry point catches and maps to a status
//   (std::bad_alloc -> ZF_SPM_RESOURCE_EXHAUSTED, anything else -> ZF_SPM_INTERNAL).
// - Ids are `int32_t`; an id outside [0, vocab_size) is rejected (ZF_SPM_OUT_OF_RANGE) before it
//   reaches sentencepiece, whose own accessors do not bounds-check.
// - Encode, decode and the lookups may be called from many threads at once on the same handle:
//   SentencePieceProcessor's encode/decode are const, and the word cache (below) locks itself.
#ifndef ZF_SENTENCEPIECE_H
#define ZF_SENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t zf_spm_status;

// Plain macros (not an enum) so Swift imports them as Int32, the type of zf_spm_status.
#define ZF_SPM_OK 0
// Mirrors sentencepiece::util::StatusCode.
#define ZF_SPM_CANCELLED 1
#define ZF_SPM_UNKNOWN 2
#define ZF_SPM_INVALID_ARGUMENT 3
#define ZF_SPM_DEADLINE_EXCEEDED 4
#define ZF_SPM_NOT_FOUND 5
#define ZF_SPM_ALREADY_EXISTS 6
#define ZF_SPM_PERMISSION_DENIED 7
#define ZF_SPM_RESOURCE_EXHAUSTED 8
#define ZF_SPM_FAILED_PRECONDITION 9
#define ZF_SPM_ABORTED 10
#define ZF_SPM_OUT_OF_RANGE 11
#define ZF_SPM_UNIMPLEMENTED 12
#define ZF_SPM_INTERNAL 13
#define ZF_SPM_UNAVAILABLE 14
#define ZF_SPM_DATA_LOSS 15
#define ZF_SPM_UNAUTHENTICATED 16
// The caller's buffer is too small; the needed size was written to the count/length
// out-parameter so the caller can retry with a larger buffer.
#define ZF_SPM_BUFFER_TOO_SMALL 100

/// Opaque handle to a loaded SentencePiece model.
typedef struct zf_spm_processor zf_spm_processor;

/// Message for the last failing call on this thread ("" if none). Never NULL.
const char *zf_spm_status_message(void);

/// Loads a serialized ModelProto (`tokenizer.model`) from `path`. On success `*out` receives a
/// handle to release with `zf_spm_free`; on failure `*out` is set to NULL.
zf_spm_status zf_spm_load(const char *path, zf_spm_processor **out);

/// Releases a handle from `zf_spm_load`. NULL is a no-op.
void zf_spm_free(zf_spm_processor *processor);

/// Encodes `len` bytes of UTF-8 `text` (need not be NUL-terminated) to ids, without BOS/EOS.
/// Always writes the number of ids produced to `*count`. If it exceeds `capacity`, nothing is
/// written to `ids` and ZF_SPM_BUFFER_TOO_SMALL is returned: retry with capacity >= *count.
zf_spm_status zf_spm_encode(const zf_spm_processor *processor, const char *text, size_t len,
                            int32_t *ids, size_t capacity, size_t *count);

/// Word cache. For models where it is provably exact (checked at load: BPE, identity
/// normaliser with no dummy prefix and no whitespace removal, no UNUSED pieces; Gemma's
/// tokenizer qualifies), encode splits the text before each space that starts a new word and
/// encodes each word once, caching its ids. A split is skipped wherever a vocabulary piece with an
/// inner "▁" (e.g. Gemma's ">▁</") occurs across it, so ids are identical to encoding the whole
/// text. SentencePiece's BPE costs ~35 µs per short sentence on a 262k vocabulary (a hash lookup
/// per candidate merge, memory-latency bound); with the cache, repeated words cost a lookup.
/// The cache holds at most 262,144 words of up to 64 bytes (~25 MB). Why splitting is exact:
/// see word_cache.hpp.
///
/// 1 if the loaded model qualifies for the word cache.
int zf_spm_word_cache_supported(const zf_spm_processor *processor);
/// 1 if encode currently uses the word cache.
int zf_spm_word_cache_enabled(const zf_spm_processor *processor);
/// Turns the word cache on or off (on by default when supported); returns whether it is now on.
/// Safe to call while other threads encode; mainly for tests and benchmarks.
int zf_spm_set_word_cache(zf_spm_processor *processor, int enabled);

/// Decodes `count` ids to UTF-8 text. `*out` receives a NUL-terminated malloc'ed string (release
/// with `zf_spm_string_free`) and `*out_len` its length in bytes (the text may itself contain NUL
/// bytes, e.g. from byte-fallback pieces, so use the length).
zf_spm_status zf_spm_decode(const zf_spm_processor *processor, const int32_t *ids, size_t count,
                            char **out, size_t *out_len);

/// Releases a string from `zf_spm_decode`. NULL is a no-op.
void zf_spm_string_free(char *string);

/// Looks up the id of a piece (`len` bytes of UTF-8). Returns ZF_SPM_NOT_FOUND if the piece is
/// not in the vocabulary (sentencepiece itself would silently answer the unknown id).
zf_spm_status zf_spm_piece_to_id(const zf_spm_processor *processor, const char *piece, size_t len,
                                 int32_t *id);

/// Copies the piece of `id` into `buffer` (NUL-terminated) and its length (without NUL) into
/// `*len`. If `capacity < *len + 1` returns ZF_SPM_BUFFER_TOO_SMALL having written only `*len`.
zf_spm_status zf_spm_id_to_piece(const zf_spm_processor *processor, int32_t id, char *buffer,
                                 size_t capacity, size_t *len);

/// Number of pieces in the vocabulary (0 for a NULL handle).
int32_t zf_spm_vocab_size(const zf_spm_processor *processor);

/// Reserved ids; -1 when the model does not define one (or for a NULL handle).
int32_t zf_spm_bos_id(const zf_spm_processor *processor);
int32_t zf_spm_eos_id(const zf_spm_processor *processor);
int32_t zf_spm_pad_id(const zf_spm_processor *processor);
int32_t zf_spm_unk_id(const zf_spm_processor *processor);

/// Piece types: 1 if true, 0 if false or if `id` is out of range.
int zf_spm_is_control(const zf_spm_processor *processor, int32_t id);
int zf_spm_is_unknown(const zf_spm_processor *processor, int32_t id);
int zf_spm_is_byte(const zf_spm_processor *processor, int32_t id);

/// The piece's score (log-probability for unigram, merge rank for BPE); 0 for an invalid id.
/// GGUF export writes it as tokenizer.ggml.scores.
float zf_spm_score(const zf_spm_processor *processor, int32_t id);

/// 1 for pieces marked unused in the model, else 0.
int zf_spm_is_unused(const zf_spm_processor *processor, int32_t id);

#ifdef __cplusplus
}
#endif

#endif  // ZF_SENTENCEPIECE_H
