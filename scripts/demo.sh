#!/usr/bin/env bash
# The demo: the models shipped in the package, on the samples shipped in samples/, in about two minutes on a CPU.
#   1. a land-cover map of bercy (Paris, 2017) with the shipped sentinel2-landcover model (EuroSAT's 10 classes)
#   2. a classifier trained from 8 squares drawn over bercy (samples/drawn/bercy_landcover.gpkg), and its map
#   3. what changed in bercy between 2016 and 2017, without any label (deep change vector analysis with the shipped
#      sentinel2-encoder), next to the change the OSCD data set labelled
# Every step is one of the project's command-line tools; outputs and quick-look PNGs land in the folder given.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${1:-demo_output}
IMAGES="samples/oscd/Onera Satellite Change Detection dataset - Images"
LABELS="samples/oscd/Onera Satellite Change Detection dataset - Train Labels"
rm -rf "$OUT" && mkdir -p "$OUT"  # each demo starts afresh
export OMP_WAIT_POLICY=PASSIVE

echo "== 1/3 land cover of bercy (2017) with the shipped sentinel2-landcover model"
$PY -m dinomc_core.classify --model sentinel2-landcover "$IMAGES/bercy/imgs_2" --output "$OUT/bercy_landcover.tif" \
    --polygons "$OUT/bercy_landcover.gpkg" --summary "$OUT/bercy_landcover.csv" --quiet
$PY scripts/quicklook.py classes "$IMAGES/bercy/imgs_2" "$OUT/bercy_landcover.tif" "$OUT/bercy_landcover.png" \
    --title "bercy 2017: sentinel2-landcover (EuroSAT classes), pixel resolution"

echo "== 2/3 a classifier from 8 squares drawn over bercy, and its map"
$PY -m dinomc_core.finetune classify --encoder sentinel2-encoder --data "$IMAGES/bercy/imgs_2" --format vector \
    --labels samples/drawn/bercy_landcover.gpkg --class-field landcover --out "$OUT/drawn_model" --quiet
$PY -m dinomc_core.classify --model "$OUT/drawn_model/model.dinomc" "$IMAGES/bercy/imgs_2" \
    --output "$OUT/bercy_drawn.tif" --polygons "$OUT/bercy_drawn.gpkg" --summary "$OUT/bercy_drawn.csv" --quiet
$PY scripts/quicklook.py classes "$IMAGES/bercy/imgs_2" "$OUT/bercy_drawn.tif" "$OUT/bercy_drawn.png" \
    --title "bercy 2017: classifier trained from the 8 drawn squares, pixel resolution"

echo "== 3/3 what changed in bercy, 2016 to 2017, without labels"
$PY -m dinomc_core.change --model sentinel2-encoder --method embedding \
    --before "$IMAGES/bercy/imgs_1" --after "$IMAGES/bercy/imgs_2" \
    --output "$OUT/bercy_change.tif" --magnitude "$OUT/bercy_change_magnitude.tif" \
    --polygons "$OUT/bercy_change.gpkg" --quiet > "$OUT/bercy_change.log"
$PY scripts/quicklook.py change "$IMAGES/bercy/imgs_1" "$IMAGES/bercy/imgs_2" "$OUT/bercy_change.tif" \
    "$OUT/bercy_change.png" --reference "$LABELS/bercy/cm/bercy-cm.tif" \
    --title "bercy 2016 -> 2017: label-free deep change vector analysis"

echo
echo "Land cover of bercy, sentinel2-landcover ($OUT/bercy_landcover.csv):"
column -s, -t < "$OUT/bercy_landcover.csv"
echo
echo "Classifier from the drawn squares: $(grep -o '"head": "[a-z]*"' "$OUT/drawn_model/metrics.json" | head -1), "\
"held-out balanced accuracy $(grep -o '"balanced_accuracy": [0-9.]*' "$OUT/drawn_model/metrics.json" | head -1 | cut -d' ' -f2)"
echo "  bercy: $(tail -n +2 "$OUT/bercy_drawn.csv" | awk -F, '{printf "%s %.1f %%  ", $2, $5}')"
echo
echo "Change in bercy: $(grep -h 'changed:' "$OUT/bercy_change.log" | head -1), $(grep -h 'change threshold' "$OUT/bercy_change.log" | head -1)"
echo
echo "Done. Quick looks: $OUT/*.png. Open the GeoTIFFs and GeoPackages in $OUT/ in QGIS; they keep the scene's CRS and grid."
