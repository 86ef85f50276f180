#!/usr/bin/env bash
# The separator study's remaining arms (issue #23), one after another on one thread, each the
# baseline arm (recipes/separator-study.toml: TCN, 30 minutes, snapshots every 5) with one thing
# changed. Score them beside the baseline:
#   .venv/bin/python recipes/score_separator.py runs/study/* \
#       --list runs/data/dev/extract.tsv runs/data/debian/dev/extract-other-recording.tsv
# ROOT (default runs/study) is where the runs go; EXTRA is added to every command (a smoke test:
# ROOT=/tmp/arms EXTRA="--max-steps 1" recipes/separator-study-arms.sh). An arm whose folder
# holds a model.pt is done and skipped; one interrupted resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/study}
read -r -a extra <<< "${EXTRA:-}"
arm() {
    local name=$1
    shift
    if [[ -f $ROOT/$name/model.pt ]]; then
        echo "$name: done"
        return
    fi
    echo "$name: $*"
    .venv/bin/puresound train --config recipes/separator-study.toml --out "$ROOT/$name" \
        "$@" "${extra[@]}" -q > "$ROOT/$name.log" 2>&1
}
mkdir -p "$ROOT"
arm tcn-8k --set sample_rate=8000                  # twice the examples, half the band
arm tcn-seg2 --segment-seconds 2                  # shorter segments, more steps
arm tcn-seg4 --segment-seconds 4
arm gated-tcn --backbone gated-tcn                 # the gated TCN (fewer multiply-adds per block)
arm tcn-augmented \
    --set 'noise_dirs=["runs/data/train-noise", "runs/data/ambient/train"]' \
    --set 'rir_dirs=["runs/data/rirs/train"]' --set reverb_prob=0.3 \
    --set bandlimit_prob=0.3 --set codec_prob=0.3 --set 'snr_db=[0.0, 20.0]'  # the campaign's data from the start
