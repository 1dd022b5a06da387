"""Open a calibration table with python-casacore; print JSON.

Usage: inspect_caltable.py <table>

Output: {"info": table.info(), "keywords": string keywords, "subtables":
names of table keywords, "time_measinfo": TIME's MEASINFO, "cparam_shape":
CPARAM row 0 shape, "chan_freq_1": SPECTRAL_WINDOW row 1 CHAN_FREQ}.
Used by the dsa110-ms-writer integration tests; they assert on it.
"""

import json
import sys

import casacore.tables as ct


def main(path):
    out = {}
    with ct.table(path, ack=False) as t:
        out["info"] = t.info()
        kws = t.getkeywords()
        out["keywords"] = {k: v for k, v in kws.items()
                           if isinstance(v, str) and not v.startswith("Table:")}
        out["subtables"] = sorted(k for k, v in kws.items()
                                  if isinstance(v, str) and v.startswith("Table:"))
        out["time_measinfo"] = t.getcolkeywords("TIME").get("MEASINFO", {})
        out["cparam_shape"] = list(t.getcell("CPARAM", 0).shape)
    with ct.table(path + "/SPECTRAL_WINDOW", ack=False) as s:
        out["chan_freq_1"] = [float(x) for x in s.getcell("CHAN_FREQ", 1)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
