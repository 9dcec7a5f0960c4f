#!/usr/bin/env bash
# On a lent CUDA GPU (the device tool): the pretraining step's throughput, then sentinel2-encoder's recipe on the
# packed OSCD scenes (configs/sentinel2_encoder_gpu.yaml). Everything lands in $OUT, which the device tool brings back;
# then, here: python benchmarks/encoder_eval.py $OUT/run/encoder.dinomc sentinel2-encoder --repeats 5
#   here, first: make gpu-pack
#   the call:    run(command="bash scripts/gpu_pretrain.sh", carry=["packed"], timeout_s=540)
# Needs torch, timm, numpy, pyyaml, tqdm, safetensors and matplotlib there; not rasterio (packed data).
set -euo pipefail
OUT=${OUT:-runs/gpu}
DATA=${DATA:-packed/oscd_first_dates.npz}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,memory.total --format=csv || true; } > "$OUT/gpu.txt"
"$PYTHON" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, torch.cuda.get_device_name(0))" | tee -a "$OUT/gpu.txt"
# the DINO-MC step of the paper's ViT-S/16 (2 x 224 px + 6 local crops), ours in bf16 against the official fp32 step
"$PYTHON" benchmarks/pretrain_throughput.py --device cuda --precision bf16 --batch-size 64 --steps 10 \
    | tee "$OUT/throughput_vits16_b64.json"
# the shipped recipe, stopped after 6 minutes at the latest (checkpoint.pt holds every finished epoch)
timeout 360 "$PYTHON" -m dinomc_core.pretrain --config configs/sentinel2_encoder_gpu.yaml --data "$DATA" \
    --out "$OUT/run" > "$OUT/pretrain.log" 2>&1 || echo "pretraining stopped: exit $?" | tee -a "$OUT/pretrain.log"
tail -n 5 "$OUT/pretrain.log"
