"""Read the calibration columns of an MS with python-casacore; print JSON.

Usage: inspect_cal_columns.py <ms>

Output: {"dm_type": {column: storage manager type}, "tile": {column: default
tile shape (casacore order)}, "rows": [{"row", "corrected": [[re, im]...],
"model": [[re, im]...]}] for a few rows spread over the table (cells
flattened row-major, i.e. channel-major then polarisation), and for tables
under 10 000 rows "flag_row" and "weight" (every row).
Used by the dsa110-ms-writer integration tests; they assert on it.
"""

import json
import sys

import casacore.tables as ct


def main(ms):
    out = {"dm_type": {}, "tile": {}, "rows": []}
    with ct.table(ms, ack=False) as t:
        for dm in t.getdminfo().values():
            for col in dm["COLUMNS"]:
                if col in ("DATA", "CORRECTED_DATA", "MODEL_DATA"):
                    out["dm_type"][col] = dm["TYPE"]
                    spec = dm.get("SPEC", {})
                    out["tile"][col] = [int(x) for x in spec.get("DEFAULTTILESHAPE", [])]
        n = t.nrows()
        picks = sorted({0, 1, n // 3, n // 2, n - 2, n - 1})
        for r in picks:
            cd = t.getcell("CORRECTED_DATA", r)
            md = t.getcell("MODEL_DATA", r)
            out["rows"].append({
                "row": r,
                "corrected": [[float(v.real), float(v.imag)] for v in cd.ravel()],
                "model": [[float(v.real), float(v.imag)] for v in md.ravel()],
            })
        if n < 10000:
            out["flag_row"] = [bool(x) for x in t.getcol("FLAG_ROW")]
            out["weight"] = t.getcol("WEIGHT").tolist()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
