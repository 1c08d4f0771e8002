#!/usr/bin/env bash
# Build .device/ (ignored by git): what benchmarks/gpu.py needs on the lent GPU machine, which has Python 3.12,
# torch, numpy, pandas, pyarrow, scipy, typer, rich and safetensors but no pydantic, no network, no
# ../shared/data and no ~/.cache. The exact device command is at the top of benchmarks/gpu.py.
#
#   .device/wheels/  pydantic and the packages it needs that the machine lacks (cp312, manylinux x86_64),
#                    plus typing-extensions, at the versions installed here
#   .device/data/    ml-100k, amazon-scientific-unisrec, amazon-beauty-2014, amazon-reviews-2018 (gift cards,
#                    magazine: the transfer sources; copies of ../shared/data)
#   .device/cache/   embeddings/: lmrec's cache of the default encoder's (all-MiniLM-L6-v2) vectors of exactly
#                    those five catalogs, encoded here once, so the GPU machine never loads MiniLM
#
# Usage (from the repository root): bash benchmarks/gpu_bundle.sh [PYTHON]
#   PYTHON: the interpreter whose lmrec environment encodes the catalogs and whose package versions are
#   bundled (default: python3); PYVER=3.11 bash benchmarks/gpu_bundle.sh builds wheels for another Python
#   (a local simulation on a 3.11 machine), into .device/wheels-3.11/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
PYVER=${PYVER:-3.12}
DATA=${LMREC_SOURCE_DATA:-../shared/data}
OUT=.device
WHEELS=$OUT/wheels
[ "$PYVER" = "3.12" ] || WHEELS=$OUT/wheels-$PYVER
mkdir -p "$WHEELS" "$OUT/data" "$OUT/cache"

# (a) wheels: the pure-Python packages the machine lacks, plus pydantic-core (compiled), same versions as here;
# typing-extensions too (the machine has one, maybe older than pydantic wants; /tmp/site comes first on the path)
PKGS=(pydantic pydantic-core annotated-types typing-inspection typing-extensions)
SPECS=()
for p in "${PKGS[@]}"; do
  v=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$p")
  SPECS+=("$p==$v")
done
echo "wheels for Python $PYVER: ${SPECS[*]}"
rm -f "$WHEELS"/*.whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" "${SPECS[@]}"

# (b) the datasets
for d in ml-100k amazon-scientific-unisrec amazon-beauty-2014 amazon-reviews-2018; do
  rm -rf "$OUT/data/$d"
  cp -r "$DATA/$d" "$OUT/data/$d"
done

# (c) the embedding cache of exactly those catalogs: the texts textseq encodes (template None) through
# lmrec.text, written to .device/cache/embeddings only (the ONNX export and parsed data stay in the usual cache)
LMREC_DATA=$PWD/$OUT/data PYTHONPATH=$PWD/src:$PWD/benchmarks "$PY" - <<'EOF'
import os
from lmrec.data import load_dataset
from lmrec.text import encode_texts, item_texts

root = os.path.join(".device", "cache", "embeddings")
for name in ("ml-100k", "amazon-scientific-unisrec", "amazon-beauty", "amazon-gift-cards", "amazon-magazine"):
    ds = load_dataset(name)
    vecs = encode_texts(item_texts(ds.items, None), encoder="minilm", cache_dir=root)
    print(f"{name}: {vecs.shape[0]} item vectors of dim {vecs.shape[1]} in {root}")
EOF
# gpu.py reads them back without the encoder: check that here (LMREC_CACHE as on the GPU machine)
LMREC_DATA=$PWD/$OUT/data LMREC_CACHE=$PWD/$OUT/cache PYTHONPATH=$PWD/src:$PWD/benchmarks "$PY" - <<'EOF'
from gpu import cached_vectors
from lmrec.data import load_dataset
from lmrec.text import item_texts

for name in ("ml-100k", "amazon-scientific-unisrec", "amazon-beauty", "amazon-gift-cards", "amazon-magazine"):
    ds = load_dataset(name)
    assert cached_vectors(item_texts(ds.items, None)) is not None, f"{name}: not all vectors are cached"
print("every catalog's vectors are in .device/cache (read without loading an encoder)")
EOF
rm -rf "$OUT/cache/parsed" "$OUT/cache/onnx"
du -sh "$OUT" "$WHEELS" "$OUT/data" "$OUT/cache"
total=$(du -sm "$OUT" | cut -f1)
[ "$total" -lt 50 ] || { echo "error: $OUT is $total MiB (limit 50)" >&2; exit 1; }
