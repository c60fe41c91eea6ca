#!/usr/bin/env bash
# The vision module reads chart text with a real OCR engine: Debian's tesseract (English
# data), and renders its ground-truth charts with a TrueType font (DejaVu) so the labels
# it draws are the kind OCR reads. Install either when missing.
set -euo pipefail
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr tesseract-ocr-eng)
[ -f "$FONT" ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -eq 0 ]; then
  echo "ensure-tesseract: $(tesseract --version 2>/dev/null | head -1)"
  exit 0
fi
echo "ensure-tesseract: installing Debian's ${need[*]} (needed by lotus_core/vis and tests/core/vis)" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
command -v tesseract >/dev/null 2>&1 || { echo "ensure-tesseract: tesseract did not install" >&2; exit 1; }
[ -f "$FONT" ] || { echo "ensure-tesseract: $FONT did not install" >&2; exit 1; }
