#!/usr/bin/env bash
# Puts GLUE SST-2 (train.tsv, dev.tsv, and test.tsv when downloaded) into DEST (default data/sst2).
#
#   tools/setup/fetch_sst2.sh [DEST]
#
# 1. DEST already has train.tsv and dev.tsv: nothing to do.
# 2. $SST2_DIR holds train.tsv and dev.tsv: symlink them into DEST (no copy of 5 MB needed).
# 3. Otherwise download GLUE's SST-2.zip (curl, else python3; $SST2_URL overrides the address) and
#    unpack it into DEST.
# If all fail, say plainly what the user has to do. See data/README.md.
set -euo pipefail

DEST="${1:-data/sst2}"
URL="${SST2_URL:-https://dl.fbaipublicfiles.com/glue/data/SST-2.zip}"  # SST2_URL: a mirror of the same zip

have_data() { [[ -f "$1/train.tsv" && -f "$1/dev.tsv" ]]; }

give_up() {
    rmdir "$DEST" 2>/dev/null || true  # only if empty: do not leave a folder that looks like data
    cat >&2 <<MSG
fetch_sst2: $1
Get SST-2 by hand: download the GLUE SST-2 data ($URL, or the "sst2" dataset of GLUE from
another mirror), and put its train.tsv and dev.tsv (test.tsv optional) in $DEST,
or set SST2_DIR to a folder that holds them and run this script again (or pass --data DIR to zofinetune).
Files need a header line with a 'label' column and a 'sentence' (or 'content'/'text') column,
tab-separated, in either order. See data/README.md.
MSG
    exit 1
}

if have_data "$DEST"; then
    echo "fetch_sst2: $DEST already has train.tsv and dev.tsv; nothing to do."
    exit 0
fi

mkdir -p "$DEST" || give_up "cannot create $DEST"

if [[ -n "${SST2_DIR:-}" ]]; then
    if have_data "$SST2_DIR"; then
        src="$(cd "$SST2_DIR" && pwd)"
        for f in train.tsv dev.tsv test.tsv; do
            [[ -f "$src/$f" ]] && ln -sf "$src/$f" "$DEST/$f"
        done
        echo "fetch_sst2: linked train.tsv and dev.tsv from SST2_DIR=$src into $DEST."
        exit 0
    fi
    echo "fetch_sst2: SST2_DIR=$SST2_DIR has no train.tsv + dev.tsv; trying to download instead." >&2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
zip="$tmp/SST-2.zip"

echo "fetch_sst2: downloading $URL ..."
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 --connect-timeout 20 -o "$zip" "$URL" || rm -f "$zip"
fi
if [[ ! -s "$zip" ]] && command -v python3 >/dev/null 2>&1; then
    python3 - "$URL" "$zip" <<'PY' || rm -f "$zip"
import sys, urllib.request
try:
    urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
except Exception as e:
    sys.exit(f"fetch_sst2: python3 download failed: {e}")
PY
fi
[[ -s "$zip" ]] || give_up "download of $URL failed (no network, or the URL moved)."

# The zip holds SST-2/{train,dev,test}.tsv (and SST-2/original/...).
if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$zip" -d "$tmp/x" || give_up "cannot unpack $zip"
elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$tmp/x" \
        || give_up "cannot unpack $zip"
else
    give_up "neither unzip nor python3 is available to unpack $zip"
fi
have_data "$tmp/x/SST-2" || give_up "the zip did not contain SST-2/train.tsv and SST-2/dev.tsv"
for f in train.tsv dev.tsv test.tsv; do
    [[ -f "$tmp/x/SST-2/$f" ]] && mv -f "$tmp/x/SST-2/$f" "$DEST/$f"
done
echo "fetch_sst2: put GLUE SST-2 train.tsv ($(($(wc -l <"$DEST/train.tsv") - 1)) rows) and dev.tsv" \
    "($(($(wc -l <"$DEST/dev.tsv") - 1)) rows) in $DEST."
