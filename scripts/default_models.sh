#!/usr/bin/env bash
# Rebuild the models shipped in dinomc_core/models/shipped/ from the real samples (make default-models; never in CI).
#   1. pretrain sentinel2-encoder with configs/sentinel2_encoder.yaml on the 20 OSCD scenes (labels unused)
#   2. measure it: k-NN and linear probe, cross-validated over the 80 EuroSAT chips, against a random encoder of the
#      same architecture and the per-band mean and std of the chips (benchmarks/encoder_eval.py)
#   3. ship it in half precision with its provenance, data, compute and validation figures in the metadata
#   4. sentinel2-landcover on top of it (marked step below)
# The encoder takes 4 minutes on 2 idle CPU cores (about 10 when shared). The log goes to docs/default_models.log,
# the table to docs/sentinel2_encoder_eval.md, the figures to docs/figures/.
# Usage: make default-models  (or: PY=.venv/bin/python DATA=../shared/data bash scripts/default_models.sh)
#        ENCODER=sentinel2-encoder bash scripts/default_models.sh  rebuilds only sentinel2-landcover, on that encoder
#        (log: docs/default_models_landcover.log), when the pixel features change but the encoder need not.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/data}
WORK=${WORK:-runs/default_models}
THREADS=${THREADS:-2}
OSCD="$DATA/oscd/Onera Satellite Change Detection dataset - Images"
ENCODER=${ENCODER:-}
LOG=docs/default_models${ENCODER:+_landcover}.log
mkdir -p docs/figures
rm -rf "$WORK" && mkdir -p "$WORK"
exec > >(tee "$LOG") 2>&1
export OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=PASSIVE
started=$(date +%s)
echo "== default models, started $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $THREADS torch threads"
echo "   cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"

if [ -z "$ENCODER" ]; then
    echo "== 1/4 pretrain sentinel2-encoder (configs/sentinel2_encoder.yaml) on $OSCD"
    # the progress bar goes to a file beside the run; the epochs' summaries and any error reach the log
    $PY -m dinomc_core.pretrain --config configs/sentinel2_encoder.yaml --data "$OSCD" --out "$WORK/encoder" \
        2>"$WORK/pretrain_progress.txt" || { tail -c 400 "$WORK/pretrain_progress.txt"; exit 1; }
    pretrained=$(date +%s)
    cp "$WORK/encoder/loss.png" docs/figures/sentinel2_encoder_loss.png

    echo "== 2/4 cross-validated EuroSAT evaluation against a random encoder and band statistics, and fused with them"
    $PY benchmarks/encoder_eval.py "$WORK/encoder/encoder.dinomc" --data "$DATA/eurosat_ms" \
        --json "$WORK/encoder_eval.json" --markdown docs/sentinel2_encoder_eval.md --provenance "$WORK/validation.json" \
        --figure docs/figures/sentinel2_encoder_eval.png

    echo "== 3/4 ship sentinel2-encoder (half precision)"
    $PY -m dinomc_core.models ship "$WORK/encoder/encoder.dinomc" sentinel2-encoder --provenance "$WORK/validation.json" \
        --fact data="OSCD, 10 cities x 2 dates, 13 bands at 10 m (Sentinel-2 L1C; labels unused)" \
        --fact compute="$(( (pretrained - started) / 60 )) min of pretraining on $(nproc) CPU cores, $THREADS torch threads" \
        --fact recipe="configs/sentinel2_encoder.yaml (DINO-MC, spectrum-preserving photometric policy)" \
        --fact built_by="make default-models"
    ENCODER="$WORK/encoder/encoder.dinomc"
else
    echo "== steps 1 to 3 skipped: sentinel2-landcover is rebuilt on $ENCODER"
fi
shipped=$(date +%s)

echo "== 4/4 sentinel2-landcover: a per-pixel MLP on fused features (bands, indices, texture, encoder context), EuroSAT chips"
# the pixels of the 60 training chips train it, those of the 20 validation chips (splits.csv) choose its epoch and
# give the figures shipped; then it is refitted on every chip. The MLP keeps maps fast (a 1x1 convolution).
$PY -m dinomc_core.finetune classify --encoder "$ENCODER" --data "$DATA/eurosat_ms" \
    --format eurosat --protocol pixel --head mlp --out "$WORK/landcover" --quiet
landcover=$(date +%s)
$PY -c "import json, sys; m = json.load(open(sys.argv[1])); json.dump({'validation': {
    'eurosat_val_pixel_accuracy': round(100 * m['accuracy'], 1),
    'eurosat_val_pixel_balanced_accuracy': round(100 * m['balanced_accuracy'], 1),
    'eurosat_val_chips': 20}}, open(sys.argv[2], 'w'))" "$WORK/landcover/metrics.json" "$WORK/landcover_validation.json"
$PY -m dinomc_core.models ship "$WORK/landcover/model.dinomc" sentinel2-landcover \
    --provenance "$WORK/landcover_validation.json" \
    --fact data="EuroSAT MS sample: 80 chips (8 per class), 256 random pixels per chip; validation: the 20 chips of splits.csv" \
    --fact compute="$(( (landcover - shipped) )) s of feature extraction and training on $(nproc) CPU cores" \
    --fact classes="EuroSAT's 10 classes with their colours" --fact built_by="make default-models"

$PY -m dinomc_core.models
echo "== done in $(( ($(date +%s) - started) / 60 )) min"
