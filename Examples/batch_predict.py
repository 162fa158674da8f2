"""Predict hematoma expansion for one case in Slicer batch mode (or with plain Python on slicer-core).

    Slicer --no-main-window --python-script Examples/batch_predict.py \
        --ct CT --hematoma SEG --out DIR [--model ID|DIR] [--segment NAME] [--overwrite]

Loads the files into the scene, runs the module's Logic and writes prediction.json, report.html,
model_features.csv and the slice PNGs, all or nothing (an earlier result in DIR is replaced; a DIR
with other files needs --overwrite). Exits with 0, 2 with a one-line error on bad input, or 1 with
a one-line error when the disk is full.
"""

import argparse
import sys
from pathlib import Path

from HematomaExpansionLib import mrml
from HematomaExpansionLib.common.atomic import disk_full_message, is_disk_full
from HematomaExpansionLib.common.errors import InputError, ModelError
from HematomaExpansionLib.mrml.logic import HematomaExpansionLogicBase
from HematomaExpansionLib.mrml.runtime import in_slicer_application
from HematomaExpansionLib.reports.case_outputs import check_result_folder, prediction_lines, write_prediction


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ct", required=True, type=Path)
    parser.add_argument("--hematoma", required=True, type=Path)
    parser.add_argument("--segment", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--overwrite", action="store_true", help="write into a folder with other files")
    args = parser.parse_args(argv)
    try:
        check_result_folder(args.out, args.overwrite)
        logic = HematomaExpansionLogicBase()
        volume, segmentation = mrml.load_case(logic.runtime, args.ct, args.hematoma)
        result = logic.predict(volume, segmentation, args.segment, args.model)
        for line in prediction_lines(result, args.ct.name):
            sys.stdout.write(line + "\n")
        written = write_prediction(result, args.out, args.ct.name, None, "", args.overwrite)
    except (InputError, ModelError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except OSError as error:
        if not is_disk_full(error):
            raise
        sys.stderr.write(f"error: {disk_full_message(error)}\n")
        return 1
    for path in written:
        sys.stdout.write(f"written: {path}\n")
    return 0


if __name__ == "__main__":
    status = run(sys.argv[1:])
    if in_slicer_application():
        import slicer

        slicer.util.exit(status)
    else:
        sys.exit(status)
