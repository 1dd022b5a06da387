"""Open an MS and every subtable with python-casacore; print a JSON summary."""
import json
import sys

import casacore.tables as pt

ms = sys.argv[1]
t = pt.table(ms, ack=False)
out = {"rows": t.nrows(), "columns": sorted(t.colnames()), "keywords": sorted(t.getkeywords()), "subtables": {}}
for sub in ["ANTENNA", "SPECTRAL_WINDOW", "POLARIZATION", "DATA_DESCRIPTION", "FIELD", "SOURCE",
            "OBSERVATION", "FEED", "HISTORY", "POINTING", "PROCESSOR", "STATE", "FLAG_CMD"]:
    s = pt.table(f"{ms}::{sub}", ack=False)
    out["subtables"][sub] = {"rows": s.nrows(), "columns": s.colnames()}
spw = pt.table(f"{ms}::SPECTRAL_WINDOW", ack=False)
f = spw.getcol("CHAN_FREQ")
out["spw_ascending"] = bool((f[:, 1:] > f[:, :-1]).all() and (f[1:, 0] > f[:-1, -1]).all())
ant = pt.table(f"{ms}::ANTENNA", ack=False)
out["antenna_names"] = list(ant.getcol("NAME"))
out["time_unique"] = len(set(t.getcol("TIME").tolist()))
print(json.dumps(out))
