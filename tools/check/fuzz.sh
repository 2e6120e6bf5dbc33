#!/usr/bin/env bash
# libFuzzer over the engine's readers (Tests/Fuzz/FuzzTargets), under AddressSanitizer.
#
#   tools/check/fuzz.sh [--seconds N] [--parallel P] [TARGET…]      default: every target, 1800 s each
#   tools/check/fuzz.sh --build-only                                   just the sanitizer build
#   (exits non-zero when a crashing input is left in .build-fuzz/crashes: tools/test.sh runs each target 10 s)
#
# Targets: safetensors config tokenizer.model vocab.txt tokenizer.json tsv csv jsonl task run.json log.jsonl run.replay
# Corpora grow in .build-fuzz/corpus/TARGET, seeded from Tests/Fuzz/seeds/TARGET plus the real
# files present (models/gemma-3-270m, models/all-minilm-l6-v2, Tests/Fixtures, data/sst2).
# A crash leaves its input in .build-fuzz/crashes/TARGET/; copy it to Tests/Fuzz/crashes/TARGET/
# (replayed by the test suite) and fix the reader. Each run's last stats go to
# .build-fuzz/logs/TARGET.log; a summary line per target (executions, coverage, crashes) is printed.
# Runs under `nice -n 15`: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=1800
PARALLEL=1
BUILD_ONLY=0
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
ALL=(safetensors config tokenizer.model vocab.txt tokenizer.json tsv csv jsonl task run.json log.jsonl run.replay)
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

OUT=.build-fuzz
started=$(date +%s)
# SwiftPM passes -sanitize=fuzzer and -sanitize=address to swiftc as two flags, and the later one
# wins: the Swift modules came out with AddressSanitizer but no coverage counters (libFuzzer then
# saw only the C targets). The combined flag, appended last, gives both.
ZOFINETUNE_FUZZ=1 nice -n 15 swift build -c release -Xswiftc -DFUZZING --sanitize=fuzzer --sanitize=address \
  -Xswiftc -sanitize=fuzzer,address \
  --build-path "$OUT" --product zofinetune-fuzz >"$OUT.build.log" 2>&1 || { tail -30 "$OUT.build.log"; exit 1; }
echo "sanitizer build: $(( $(date +%s) - started )) s" >&2
BIN="$OUT/release/zofinetune-fuzz"
[ "$BUILD_ONLY" = 1 ] && exit 0

# Real files beside the committed seeds (not committed themselves: too large, or not ours).
real_files() {
  case "$1" in
    safetensors) ls Tests/Fixtures/tiny-*/model.safetensors 2>/dev/null ;;
    config) ls models/*/config.json 2>/dev/null ;;
    tokenizer.model) ls models/gemma-3-270m/tokenizer.model 2>/dev/null ;;
    vocab.txt) ls models/all-minilm-l6-v2/vocab.txt 2>/dev/null ;;
    tokenizer.json) ls Tests/Fixtures/bpe-*/tokenizer.json 2>/dev/null ;;
    tsv) ls data/sst2/dev.tsv 2>/dev/null ;;
    jsonl) ls Tests/Fixtures/tasks/*.jsonl 2>/dev/null ;;
    task) ls Sources/Tasks/BuiltinTasks/*.json 2>/dev/null ;;
  esac
}

run_target() {
  local t="$1" corpus="$OUT/corpus/$1" crashes="$OUT/crashes/$1" log="$OUT/logs/$1.log"
  mkdir -p "$corpus" "$crashes" "$OUT/logs"
  cp -n Tests/Fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  for f in $(real_files "$t"); do cp -n "$f" "$corpus/real-$(echo "$f" | tr / _)"; done
  # libFuzzer stops at a crash (its input goes to $crashes); it is restarted until the time is
  # used up, so one target's crash does not end its run. (-fork=1 would continue by itself, but
  # with this toolchain its jobs started without the corpus and reported no coverage.)
  local end=$(( $(date +%s) + SECONDS_EACH )) execs=0 runs=0 left
  : >"$log"
  while left=$(( end - $(date +%s) )); [ "$left" -gt 5 ]; do
    FUZZ_TARGET="$t" ASAN_OPTIONS=detect_leaks=0 nice -n 15 "$BIN" "$corpus" \
      -max_total_time="$left" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
      -artifact_prefix="$crashes/" >"$log.run" 2>&1 || true
    cat "$log.run" >>"$log"
    local n
    n=$(grep -oE '^#[0-9]+' "$log.run" | tail -1 | tr -d '#')
    execs=$(( execs + ${n:-0} ))
    runs=$(( runs + 1 ))
  done
  rm -f "$log.run"
  local cov ncrash
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  # libFuzzer also keeps inputs slower than 10 s (slow-unit-*): on a shared machine those are
  # usually load, so they are counted apart from crashes, leaks, timeouts and out-of-memory.
  ncrash=$(ls "$crashes" | grep -cE '^(crash|leak|timeout|oom)-' || true)
  local nslow
  nslow=$(ls "$crashes" | grep -c '^slow-unit-' || true)
  echo "$t: ${SECONDS_EACH} s, ${execs} executions in ${runs} run(s), coverage ${cov} edges, corpus $(ls "$corpus" | wc -l), crashes/leaks/timeouts/ooms ${ncrash}, slow units ${nslow}"
  # A fuzzer that never ran an input (it failed to start, or the target name is unknown) tested
  # nothing: that is a failure, not a pass.
  if [ "$execs" -eq 0 ]; then
    echo "fuzz: $t ran 0 executions; its last output:" >&2
    tail -5 "$log" >&2
    return 1
  fi
}

export -f run_target real_files
export OUT BIN SECONDS_EACH
status=0
printf '%s\n' "${TARGETS[@]}" | xargs -P "$PARALLEL" -I{} bash -c 'run_target "$@"' _ {} || status=$?

# Any crash, leak, timeout or out-of-memory input left in .build-fuzz/crashes is an open crash:
# the run fails (CI runs every target briefly through tools/test.sh) until it is fixed and its
# input moved to Tests/Fuzz/crashes/TARGET/ as a regression test.
open=$(ls "$OUT"/crashes/*/ 2>/dev/null | grep -cE '^(crash|leak|timeout|oom)-' || true)
if [ "$open" -gt 0 ]; then
  echo "fuzz: $open crashing input(s) in $OUT/crashes/ (fix the reader, then move each to Tests/Fuzz/crashes/TARGET/)" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "fuzz: a target showed zero executions (see above)" >&2
  exit 1
fi
