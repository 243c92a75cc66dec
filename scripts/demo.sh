#!/usr/bin/env bash
# Sets up gradwatch and checks the bundled example training script.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Exit 1 means "findings reported", which is what the example is for.
.venv/bin/gradwatch check examples/ || [ $? -eq 1 ]
