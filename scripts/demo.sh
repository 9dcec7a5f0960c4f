#!/usr/bin/env bash
# The demo: from unlabelled Sentinel-2 scenes to a land-cover map and a change map, on the samples in samples/.
#   1. pretrain a small DINO-MC encoder on the OSCD scenes (13 bands, no labels used)
#   2. train a land-cover classifier on the EuroSAT chips with a linear probe on the frozen encoder
#   3. map land cover over the bercy scene (a folder of one file per band, resampled to 10 m)
#   4. map what changed in bercy between 2016 and 2017, without any change label (embedding distance)
# Every step is one of the project's command-line tools; outputs land in the folder given (default demo_output).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-demo_output}
OSCD="samples/oscd/Onera Satellite Change Detection dataset - Images"
rm -rf "$OUT" && mkdir -p "$OUT"  # each demo starts afresh

echo "== 1/4 DINO-MC pretraining on the OSCD scenes (a short CPU run)"
# the short-run recipe of configs/cpu_quick.yaml; the two sample scenes give 148 windows of 64 px (9 steps) per
# epoch, so 15 epochs make ~135 steps (about 3 minutes on 2 cores), with warm-up and last-layer freeze over 3 epochs
OMP_WAIT_POLICY=PASSIVE $PY -m dinomc_core.pretrain --config configs/cpu_quick.yaml --data "$OSCD" --out "$OUT/pretrain" \
    --window-size 64 --epochs 15 --warmup-epochs 3 --freeze-last-layer 3

echo "== 2/4 land-cover classifier from the EuroSAT chips (linear probe on the frozen encoder)"
$PY -m dinomc_core.finetune classify --encoder "$OUT/pretrain/encoder.dinomc" --data samples/eurosat_ms \
    --format eurosat --protocol linear --out "$OUT/landcover_model" --quiet

echo "== 3/4 land-cover map of bercy (2017)"
$PY -m dinomc_core.classify --model "$OUT/landcover_model/model.dinomc" "$OSCD/bercy/imgs_2" \
    --output "$OUT/bercy_landcover.tif" --confidence "$OUT/bercy_confidence.tif" \
    --polygons "$OUT/bercy_landcover.gpkg" --summary "$OUT/bercy_landcover.csv" --quiet

echo "== 4/4 change map of bercy, 2016 to 2017, without labels"
$PY -m dinomc_core.change --model "$OUT/pretrain/encoder.dinomc" --method embedding \
    --before "$OSCD/bercy/imgs_1" --after "$OSCD/bercy/imgs_2" \
    --output "$OUT/bercy_change.tif" --magnitude "$OUT/bercy_change_magnitude.tif" \
    --polygons "$OUT/bercy_change.gpkg" --quiet

echo
echo "Land cover of bercy (from $OUT/bercy_landcover.csv):"
column -s, -t < "$OUT/bercy_landcover.csv"
echo
echo "Done. Open the GeoTIFFs and GeoPackages in $OUT/ in QGIS; they keep the scene's CRS and grid."
