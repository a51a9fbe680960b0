#!/usr/bin/env bash
# Issue 3's training evidence, end to end (about 4 hours of CPU on the 2-core machine; the runs
# are single-threaded so two of them share the machine without oversubscription):
#   1. align CelebA-wild twice (ArcFace 112 landmarks for MobileFaceNet; MTCNN boxes + 32 px at 160 for IR-v1);
#   2. from scratch: MobileFaceNet, 500 steps x 128 images (about 60 CPU-minutes each), semi-hard /
#      batch-all / batch-hard (the miner ablation), LFW View 1 validation every 50 steps;
#   3. fine-tune the ported CASIA Inception-ResNet-v1 into 128-D (PCA head, best View 1 weights);
#   4. LFW View 2 10-fold once per model at the end, JSON + ROC in out/train, and the View 1 curves.
# Usage: bench/train_lfw.sh [DATA_DIR]   (DATA_DIR holds lfw/ and celeba-wild/; default ../shared/data)
set -euo pipefail
DATA=${1:-${FACENET_DATA:-../shared/data}}
FN=${FACENET:-.venv/bin/facenet}
PY=${PYTHON_BIN:-.venv/bin/python}
OUT=out/train
mkdir -p "$OUT" runs
export OMP_NUM_THREADS=1

$FN align "$DATA/celeba-wild" data/celeba112 --detector yunet --workers 2 --json > "$OUT/align_celeba112.json"
$FN align "$DATA/celeba-wild" data/celeba160box --detector mtcnn --template box_margin_32 --size 160 --workers 2 \
  --json > "$OUT/align_celeba160box.json"

scratch() {  # $1: miner
  /usr/bin/env time -v $FN train --config bench/configs/scratch_mfn.yaml --lfw-root "$DATA/lfw" --miner "$1" \
    --out "runs/scratch_$1" --no-progress 2> "$OUT/scratch_$1.time"
  $FN export "runs/scratch_$1/last.pt" --onnx "runs/scratch_$1.onnx"
  $FN evaluate lfw --root "$DATA/lfw" --embedder "runs/scratch_$1.onnx" --json --plot "$OUT/scratch_$1_roc.png" \
    --no-progress > "$OUT/scratch_$1_view2.json"
}
finetune() {
  /usr/bin/env time -v $FN train --config bench/configs/finetune_irv1_128.yaml --lfw-root "$DATA/lfw" \
    --out runs/irv1_pca --no-progress 2> "$OUT/irv1_pca.time"
  $FN export runs/irv1_pca/best.pt --onnx runs/irv1_pca.onnx
  $FN evaluate lfw --root "$DATA/lfw" --embedder runs/irv1_pca.onnx --detector mtcnn --json \
    --plot "$OUT/irv1_pca_roc.png" --no-progress > "$OUT/irv1_pca_view2.json"
  $FN evaluate lfw --root "$DATA/lfw" --embedder inception-resnet-v1.casia --detector mtcnn --json \
    --no-progress > "$OUT/casia_irv1_512_view2.json"
}

(scratch semihard) & (scratch batch_all) & wait
(scratch batch_hard) & (finetune) & wait
$PY bench/plot_runs.py runs/scratch_semihard runs/scratch_batch_all runs/scratch_batch_hard --out "$OUT/scratch_ablation.png"
grep -H '"accuracy_mean"\|"val_mean"\|"auc"' "$OUT"/*_view2.json
